import { z } from 'zod';

// The front's part of the host table. Every field has a default except where a choice
// must be the operator's (the sticky-cookie keys when cookies are on).

const ms = z.number().int().positive();
const port = z.number().int().min(1).max(65535);

export const POLICY_NAMES = ['round_robin', 'least_conn', 'p2c', 'least_load', 'source_ip', 'chash'] as const;

const backendSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'back-end ids are 1-64 letters, digits, _ . -'),
  host: z.string().min(1).max(253),
  port,
  weight: z.number().int().min(1).max(1000).default(1),
  /** The node whose `load` figure stands for this back-end (least_load). */
  node: z.string().optional(),
});

export const frontSchema = z
  .strictObject({
    listen: z.strictObject({ host: z.string().default('127.0.0.1'), port }),
    /** Status, drain and reload; the token (if set) also unlocks the routing explanation header. */
    admin: z.strictObject({ host: z.string().default('127.0.0.1'), port, token: z.string().min(16, 'admin tokens are at least 16 characters').optional() }).optional(),
    /** "apps": the app instances of every node's pool, followed live through front.node; "access": every access node's own HTTP port (its resources, /res/); or a list of back-ends. */
    backends: z.union([z.literal('apps'), z.literal('access'), z.array(backendSchema).min(1)]).default('access'),
    policy: z.enum(POLICY_NAMES).default('round_robin'),
    /** The node whose local socket the front uses into the network (app registries, load figures, maintenance). */
    node: z.string().optional(),
    /** chash with bounded loads: no back-end takes more than loadFactor × the average. */
    chashLoadFactor: z.number().min(1).max(10).default(1.25),
    sticky: z
      .strictObject({
        mode: z.enum(['cookie', 'source_ip', 'none']).default('none'),
        cookie: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('cohort_srv'),
        /** HMAC keys, newest first: tokens signed with any are accepted, new ones use the first. */
        keys: z.array(z.string().min(16, 'sticky keys are at least 16 characters')).default([]),
        maxAgeS: z.number().int().positive().default(86_400),
        /** A session not seen for this long no longer counts as live for draining. */
        sessionIdleS: z.number().int().positive().default(600),
      })
      .default({ mode: 'none', cookie: 'cohort_srv', keys: [], maxAgeS: 86_400, sessionIdleS: 600 }),
    health: z
      .strictObject({
        path: z.string().startsWith('/').default('/healthz'),
        intervalMs: ms.default(2000),
        timeoutMs: ms.default(1000),
        rise: z.number().int().min(1).max(100).default(2),
        fall: z.number().int().min(1).max(100).default(3),
        /** Passive: this many errors (connection failures or 5xx) within windowMs eject a back-end for ejectMs. */
        errorsToEject: z.number().int().min(1).default(5),
        windowMs: ms.default(10_000),
        ejectMs: ms.default(10_000),
        /** A back-end that comes back ramps its share up over this long. */
        slowStartMs: z.number().int().min(0).default(10_000),
      })
      .default({ path: '/healthz', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, errorsToEject: 5, windowMs: 10_000, ejectMs: 10_000, slowStartMs: 10_000 }),
    timeouts: z
      .strictObject({
        headersMs: ms.default(10_000),
        idleMs: ms.default(60_000),
        connectMs: ms.default(2000),
        upstreamMs: ms.default(30_000),
        /** A tunnel (WebSocket) with no byte either way for this long is closed (HAProxy's `timeout tunnel`). */
        tunnelIdleMs: ms.default(3_600_000),
      })
      .default({ headersMs: 10_000, idleMs: 60_000, connectMs: 2000, upstreamMs: 30_000, tunnelIdleMs: 3_600_000 }),
    /** Upgrade protocols forwarded (RFC 9110 §7.8); an Upgrade naming none of these is dropped. */
    upgrades: z.array(z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'upgrade protocols are lower-case tokens, without a version')).default(['websocket']),
    limits: z
      .strictObject({
        maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(16_384),
        /** Client connections held at once; more are closed as they arrive (HAProxy's maxconn). */
        maxClientConnections: z.number().int().min(1).default(10_000),
        maxConnsPerBackend: z.number().int().min(1).default(256),
        queueSize: z.number().int().min(0).default(1024),
        queueTimeoutMs: ms.default(5000),
        /** Bodies up to this size are held so a retry can replay them. */
        replayBodyBytes: z.number().int().min(0).default(65_536),
        /** Sticky sessions remembered per back-end for draining (least recently seen forgotten first). */
        maxTrackedSessions: z.number().int().min(1).default(50_000),
      })
      .default({ maxHeaderBytes: 16_384, maxClientConnections: 10_000, maxConnsPerBackend: 256, queueSize: 1024, queueTimeoutMs: 5000, replayBodyBytes: 65_536, maxTrackedSessions: 50_000 }),
    /** Cluster-wide maintenance mode (`cohort maintenance on`), heard through front.node: new sessions get a 503 page. */
    maintenance: z
      .strictObject({ retryAfterS: z.number().int().min(1).max(86_400).default(120) })
      .default({ retryAfterS: 120 }),
    retries: z
      .strictObject({
        max: z.number().int().min(0).max(10).default(2),
        /** Retries may add at most this share of recent requests (plus minPerSecond). */
        budgetRatio: z.number().min(0).max(1).default(0.2),
        minPerSecond: z.number().min(0).default(5),
        /** The app honours Idempotency-Key: a request carrying one may be replayed like an idempotent one. */
        idempotencyKey: z.boolean().default(false),
      })
      .default({ max: 2, budgetRatio: 0.2, minPerSecond: 5, idempotencyKey: false }),
  })
  .superRefine((f, ctx) => {
    if (f.admin && f.admin.token === undefined && !isLoopback(f.admin.host)) {
      ctx.addIssue({ code: 'custom', path: ['admin', 'token'], message: `an admin listener on ${f.admin.host} (beyond loopback) needs a token: status, drain and reload would be open to anyone who reaches it` });
    }
    if (f.sticky.mode === 'cookie' && f.sticky.keys.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['sticky', 'keys'], message: 'cookie stickiness needs at least one key' });
    }
    if (Array.isArray(f.backends)) {
      const seen = new Set<string>();
      f.backends.forEach((b, i) => {
        if (seen.has(b.id)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'id'], message: `duplicate back-end id '${b.id}'` });
        seen.add(b.id);
      });
    }
  });

export type FrontConfig = z.output<typeof frontSchema>;
export type BackendConfig = z.output<typeof backendSchema>;

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
