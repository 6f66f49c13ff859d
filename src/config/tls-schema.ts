import { z } from 'zod';
import { DNS_NAME } from '../host-name.ts';

/** Mozilla's server-side TLS profiles the front offers (src/tls/profiles.ts). */
export const TLS_PROFILES = ['intermediate', 'modern'] as const;
export type TlsProfile = (typeof TLS_PROFILES)[number];

const file = z.string().min(1).max(4096);

/** A DNS name a certificate is ordered for (no final dot, no wildcard: HTTP-01 and TLS-ALPN-01 cannot prove one). */
const dnsName = z
  .string()
  .max(253)
  .transform((n) => n.toLowerCase())
  .pipe(z.string().regex(DNS_NAME, 'a DNS name of two labels or more (letters, digits, hyphens)'));
/** An on-demand allow-list entry: a name, or `*.suffix` for any one label under suffix. */
const allowEntry = z
  .string()
  .max(253)
  .transform((n) => n.toLowerCase())
  .pipe(z.string().regex(/^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS name, or *.name'));

export const ACME_CHALLENGES = ['tls-alpn-01', 'http-01'] as const;

/**
 * `front.listen.tls.acme`: certificates ordered from an ACME CA (Let's Encrypt, a private one),
 * kept in the node network (src/acme/) so that one front orders and every front serves them.
 */
export const acmeSchema = z
  .strictObject({
    /** The CA's directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory. */
    directory: z.url({ protocol: /^https$/ }),
    email: z.email().optional(),
    /** Names ordered at start and kept renewed. */
    names: z.array(dnsName).max(100).default([]),
    /** Names ordered at their first handshake, only those the allow-list takes; maxNames bounds how many. */
    onDemand: z.strictObject({ allow: z.array(allowEntry).min(1).max(1000), maxNames: z.number().int().min(1).max(10_000).default(100) }).optional(),
    /** The challenges answered, the preferred first (RFC 8555 §8.3, RFC 8737); http-01 needs front.redirect (port 80). */
    challenges: z.array(z.enum(ACME_CHALLENGES)).min(1).max(2).default(['tls-alpn-01', 'http-01']),
    /** A CA bundle (PEM) to trust for the directory besides the system's: a private CA's. */
    caFile: file.optional(),
    keyType: z.enum(['ecdsa', 'rsa']).default('ecdsa'),
    /** The node that keeps the cluster's ACME state (default: the first library node). */
    home: z.string().min(1).optional(),
    /** A failed order is tried again after minS, doubling up to maxS, by whichever front. */
    retry: z.strictObject({ minS: z.number().int().min(1).default(60), maxS: z.number().int().min(1).max(7 * 86_400).default(86_400) }).default({ minS: 60, maxS: 86_400 }),
  })
  .refine((a) => a.names.length > 0 || a.onDemand !== undefined, { message: 'acme needs names, or onDemand with an allow-list', path: ['names'] })
  .refine((a) => new Set(a.names).size === a.names.length, { message: 'a name is listed twice', path: ['names'] })
  .refine((a) => a.retry.maxS >= a.retry.minS, { message: 'must be at least minS', path: ['retry', 'maxS'] });
export type AcmeSection = z.output<typeof acmeSchema>;

/** Strict-Transport-Security's settings. */
const hstsSchema = z
  .strictObject({
    maxAgeS: z.number().int().min(0).max(2 ** 31 - 1).default(31_536_000),
    includeSubDomains: z.boolean().default(false),
    preload: z.boolean().default(false),
  })
  // The preload list takes only what it can keep: a year at least, every subdomain (hstspreload.org).
  .refine((h) => !h.preload || (h.includeSubDomains && h.maxAgeS >= 31_536_000), { message: 'preload needs includeSubDomains and maxAgeS of a year (31536000) or more', path: ['preload'] });

/** A certificate and its key: PEM files, paths relative to the host table's folder. */
const certificateFiles = z.strictObject({ cert: file, key: file });

/**
 * `front.listen.tls`: HTTPS on the front's listener. Certificate and key files are PEM, paths
 * relative to the host table's folder; a name's RSA and ECDSA certificates may both be listed
 * (each client gets the one it accepts). The first certificate is the default.
 */
export const tlsSchema = z.strictObject({
  certificates: z.array(certificateFiles).max(1000).default([]),
  acme: acmeSchema.optional(),
  profile: z.enum(TLS_PROFILES).default('intermediate'),
  /** HTTP/2 for clients that offer h2 by ALPN (each stream is translated to the HTTP/1.1 request path). */
  http2: z.boolean().default(true),
  /**
   * Session resumption across every front process and front, a new key every rotateS, older ones
   * kept to open tickets up to lifetimeS old. The keys are random ones kept in the node network
   * when the front has a node (front.node), or derived from `secret` when one is given (fronts
   * without a node). Neither: each front process has its own key (resumption on that process only).
   */
  tickets: z
    .strictObject({
      secret: z.string().min(32, 'a ticket secret is at least 32 characters').max(512).optional(),
      rotateS: z.number().int().min(1).max(7 * 86_400).default(43_200),
      lifetimeS: z.number().int().min(1).max(7 * 86_400).default(86_400),
    })
    // Each open generation is a TLS context per certificate (certificate-set.ts keeps 8 at most).
    .refine((t) => Math.ceil(t.lifetimeS / t.rotateS) + 1 <= 8, { message: 'lifetimeS may span at most 7 rotations (rotateS of lifetimeS / 7 or more)', path: ['rotateS'] })
    // Keys kept in the node network live there 7 days at most: the next generation's key, made a rotation ahead, must outlast its tickets.
    .refine((t) => t.secret !== undefined || 2 * t.rotateS + t.lifetimeS <= 7 * 86_400, { message: 'keys kept in the node network (no secret) need 2 × rotateS + lifetimeS of 7 days (604800 s) or less', path: ['lifetimeS'] })
    .optional(),
  /** Refuse a handshake whose SNI names no certificate (or that sends none) instead of giving it the default. */
  strictSni: z.boolean().default(false),
  /** Strict-Transport-Security on every HTTPS answer (never over plain HTTP). Off unless set: it binds browsers for maxAgeS. */
  hsts: hstsSchema.optional(),
}).refine((t) => t.certificates.length > 0 || t.acme !== undefined, { message: 'HTTPS needs certificates, or acme', path: ['certificates'] });
export type TlsSection = z.infer<typeof tlsSchema>;

/**
 * A node's `tls`: HTTPS on its HTTP port (resources, publishing with a password, the dashboard,
 * metrics), from certificate files like the front's (`cohort certs web` makes one the cluster CA
 * signs). Fronts reach such a node's port over TLS too, trusting the cluster CA and the system's.
 */
export const nodeTlsSchema = z
  .strictObject({
    certificates: z.array(certificateFiles).max(100).default([]),
    /**
     * Certificates the fronts' ACME ordered, served here too: those stored for these names under
     * this directory (the fronts' acme.directory) on the ACME home (default: the first library node).
     */
    acme: z.strictObject({ directory: z.url({ protocol: /^https$/ }), names: z.array(dnsName).min(1).max(100), home: z.string().min(1).optional() }).optional(),
    profile: z.enum(TLS_PROFILES).default('intermediate'),
    hsts: hstsSchema.optional(),
  })
  .refine((t) => t.certificates.length > 0 || t.acme !== undefined, { message: "a node's HTTPS needs certificates, or acme", path: ['certificates'] });
export type NodeTlsSection = z.output<typeof nodeTlsSchema>;
export type NodeTlsInput = z.input<typeof nodeTlsSchema>;

/** The header value for an `hsts` section. */
export function hstsValue(hsts: TlsSection['hsts']): string | undefined {
  if (!hsts) return undefined;
  return `max-age=${hsts.maxAgeS}${hsts.includeSubDomains ? '; includeSubDomains' : ''}${hsts.preload ? '; preload' : ''}`;
}
