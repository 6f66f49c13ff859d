import { z } from 'zod';

/** Mozilla's server-side TLS profiles the front offers (src/front/tls/profiles.ts). */
export const TLS_PROFILES = ['intermediate', 'modern'] as const;
export type TlsProfile = (typeof TLS_PROFILES)[number];

const file = z.string().min(1).max(4096);

/**
 * `front.listen.tls`: HTTPS on the front's listener. Certificate and key files are PEM, paths
 * relative to the host table's folder; a name's RSA and ECDSA certificates may both be listed
 * (each client gets the one it accepts). The first certificate is the default.
 */
export const tlsSchema = z.strictObject({
  certificates: z.array(z.strictObject({ cert: file, key: file })).min(1).max(1000),
  profile: z.enum(TLS_PROFILES).default('intermediate'),
  /** HTTP/2 for clients that offer h2 by ALPN (each stream is translated to the HTTP/1.1 request path). */
  http2: z.boolean().default(true),
  /**
   * Session resumption across every front process and front: tickets sealed by keys derived
   * from this secret, a new key every rotateS, older ones kept to open tickets up to lifetimeS
   * old. Without it each front process has its own random key (resumption on that process only).
   */
  tickets: z
    .strictObject({
      secret: z.string().min(32, 'a ticket secret is at least 32 characters').max(512),
      rotateS: z.number().int().min(1).max(7 * 86_400).default(43_200),
      lifetimeS: z.number().int().min(1).max(7 * 86_400).default(86_400),
    })
    // Each open generation is a TLS context per certificate (certificate-set.ts keeps 8 at most).
    .refine((t) => Math.ceil(t.lifetimeS / t.rotateS) + 1 <= 8, { message: 'lifetimeS may span at most 7 rotations (rotateS of lifetimeS / 7 or more)', path: ['rotateS'] })
    .optional(),
  /** Refuse a handshake whose SNI names no certificate (or that sends none) instead of giving it the default. */
  strictSni: z.boolean().default(false),
  /** Strict-Transport-Security on every HTTPS answer (never over plain HTTP). Off unless set: it binds browsers for maxAgeS. */
  hsts: z
    .strictObject({
      maxAgeS: z.number().int().min(0).max(2 ** 31 - 1).default(31_536_000),
      includeSubDomains: z.boolean().default(false),
      preload: z.boolean().default(false),
    })
    // The preload list takes only what it can keep: a year at least, every subdomain (hstspreload.org).
    .refine((h) => !h.preload || (h.includeSubDomains && h.maxAgeS >= 31_536_000), { message: 'preload needs includeSubDomains and maxAgeS of a year (31536000) or more', path: ['preload'] })
    .optional(),
});
export type TlsSection = z.infer<typeof tlsSchema>;

/** The header value for an `hsts` section. */
export function hstsValue(hsts: TlsSection['hsts']): string | undefined {
  if (!hsts) return undefined;
  return `max-age=${hsts.maxAgeS}${hsts.includeSubDomains ? '; includeSubDomains' : ''}${hsts.preload ? '; preload' : ''}`;
}
