import { z } from 'zod';
import { isLoopback } from '../loopback.ts';
import { tlsSchema } from './tls-schema.ts';

// The front's part of the host table. Every field has a default except where a choice
// must be the operator's (the sticky-cookie keys when cookies are on). Here, below the front,
// because the host table holds it; src/front/config.ts is the front's door to it.

/** Route tables one shared LARD dispatcher keeps (dispatcher/shared-lard.ts holds them). */
export const MAX_TABLES = 4;

const ms = z.number().int().positive();
const port = z.number().int().min(1).max(65535);

export const POLICY_NAMES = ['round_robin', 'least_conn', 'p2c', 'least_load', 'source_ip', 'chash', 'lard', 'lard_r'] as const;

const backendSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'back-end ids are 1-64 letters, digits, _ . -'),
  host: z.string().min(1).max(253),
  port,
  weight: z.number().int().min(1).max(1000).default(1),
  /** The node whose `load` figure stands for this back-end (least_load). */
  node: z.string().optional(),
});

const backendsSchema = z.union([z.literal('apps'), z.literal('access'), z.array(backendSchema).min(1)]);

const stickyFields = z
      .strictObject({
        mode: z.enum(['cookie', 'source_ip', 'none']).default('none'),
        cookie: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('cohort_srv'),
        /** HMAC keys, newest first: tokens signed with any are accepted, new ones use the first. */
        keys: z.array(z.string().min(16, 'sticky keys are at least 16 characters')).default([]),
        maxAgeS: z.number().int().positive().default(86_400),
        /** A session not seen for this long no longer counts as live for draining. */
        sessionIdleS: z.number().int().positive().default(600),
      });
const stickySchema = stickyFields.default({ mode: 'none', cookie: 'cohort_srv', keys: [], maxAgeS: 86_400, sessionIdleS: 600 });

const healthFields = z
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
        /**
         * At most this share of a route's back-ends ejected by live traffic at once, and always one
         * (Envoy's outlier detection, max_ejection_percent, whose 10 % is for large clusters: with
         * a handful of back-ends half of them): a rolling restart must not eject them all and leave
         * the route none. Active checks still take down what they find down.
         */
        maxEjectedPercent: z.number().int().min(0).max(100).default(50),
        /** A back-end that comes back ramps its share up over this long. */
        slowStartMs: z.number().int().min(0).default(10_000),
      });
const healthSchema = healthFields.default({ path: '/healthz', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, errorsToEject: 5, windowMs: 10_000, ejectMs: 10_000, maxEjectedPercent: 50, slowStartMs: 10_000 });

/** The most targets a LARD table holds (a shared dispatcher holds no more either). */
export const MAX_LARD_TARGETS = 1_000_000;

/** LARD and LARD/R (Pai et al. 1998): thresholds in requests in flight per back-end of weight 1. */
const lardFields = z
  .strictObject({
    tLow: z.number().int().min(1).max(100_000).default(25),
    tHigh: z.number().int().min(2).max(100_000).default(65),
    /** LARD/R: a target's server set shrinks only after this long without change. */
    kS: z.number().min(0).max(3600).default(20),
    /** Targets remembered (least recently used forgotten first). */
    maxTargets: z.number().int().min(1).max(MAX_LARD_TARGETS).default(100_000),
    /**
     * A target is the path with its query, as caches key it (false: the path alone, for back-ends
     * that ignore queries: tracking parameters, cache-busters).
     */
    query: z.boolean().default(true),
  })
  .refine((l) => l.tLow < l.tHigh, 'lard.tLow must be below lard.tHigh');
const lardSchema = lardFields.default({ tLow: 25, tHigh: 65, kS: 20, maxTargets: 100_000, query: true });

/** A dispatcher several fronts share: it runs in a node, reached through front.node (seed 003). */
const dispatcherSchema = z.strictObject({
  /** The node that holds the shared LARD state. */
  node: z.string().min(1),
  /** A batch of decisions not answered within this long: the front decides alone until it answers again. */
  timeoutMs: ms.default(250),
});

const routeSchema = z.strictObject({
  /** For status, logs and X-Cohort-Route; default route<N>. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/, 'route names are 1-32 letters, digits, _ . -').optional(),
  /** The first route whose prefix starts the request path (and whose host, if given, is the request's) takes it. */
  match: z.strictObject({
    prefix: z.string().startsWith('/').max(256).default('/'),
    host: z.string().min(1).max(253).regex(/^[A-Za-z0-9.-]+$/, 'a host name').optional(),
  }),
  backends: backendsSchema.optional(),
  policy: z.enum(POLICY_NAMES).optional(),
  chashLoadFactor: z.number().min(1).max(10).optional(),
  // Without the outer defaults: a route that leaves one out inherits the front's.
  sticky: stickyFields.optional(),
  health: healthFields.optional(),
  lard: lardFields.optional(),
  dispatcher: dispatcherSchema.optional(),
});

export const frontSchema = z
  .strictObject({
    /** With tls: HTTPS (tls-schema.ts). */
    listen: z.strictObject({ host: z.string().default('127.0.0.1'), port, tls: tlsSchema.optional() }),
    /**
     * A plain HTTP listener that answers every request with a 308 to the same path and query on the
     * HTTPS listener; httpsPort: the port clients reach it on, when that is not listen.port (a NAT, a forward).
     */
    redirect: z.strictObject({ host: z.string().default('127.0.0.1'), port, httpsPort: port.optional() }).optional(),
    /** Status, drain and reload; the token (if set) also unlocks the routing explanation header. */
    admin: z.strictObject({ host: z.string().default('127.0.0.1'), port, token: z.string().min(16, 'admin tokens are at least 16 characters').optional() }).optional(),
    /** "apps": the app instances of every node's pool, followed live through front.node; "access": every access node's own HTTP port (its resources, /res/); or a list of back-ends. */
    backends: backendsSchema.default('access'),
    policy: z.enum(POLICY_NAMES).default('round_robin'),
    /** The node whose local socket the front uses into the network (app registries, load figures, maintenance). */
    node: z.string().optional(),
    /** chash with bounded loads: no back-end takes more than loadFactor × the average. */
    chashLoadFactor: z.number().min(1).max(10).default(1.25),
    lard: lardSchema,
    /** Decide LARD picks in a dispatcher shared with other fronts (default: this front decides alone). */
    dispatcher: dispatcherSchema.optional(),
    /**
     * Ordered routes, each with its own back-ends, policy, stickiness and health (fields it
     * leaves out come from the ones above). Without routes, the fields above are one route for
     * every path.
     */
    routes: z.array(routeSchema).min(1).max(64).optional(),
    sticky: stickySchema,
    health: healthSchema,
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
    if (f.redirect && !f.listen.tls) ctx.addIssue({ code: 'custom', path: ['redirect'], message: 'a redirect to HTTPS needs front.listen.tls' });
    const acme = f.listen.tls?.acme;
    if (acme && f.node === undefined) ctx.addIssue({ code: 'custom', path: ['node'], message: 'front.listen.tls.acme keeps its certificates in the node network: name this machine\'s node in front.node' });
    if (acme && !f.redirect && !acme.challenges.includes('tls-alpn-01')) ctx.addIssue({ code: 'custom', path: ['listen', 'tls', 'acme', 'challenges'], message: 'http-01 alone needs front.redirect: the plain listener the CA asks (port 80)' });
    if (f.redirect && [f.listen.port, f.admin?.port].includes(f.redirect.port)) ctx.addIssue({ code: 'custom', path: ['redirect', 'port'], message: `port ${f.redirect.port} is taken by another of the front's listeners` });
    if (f.admin && f.admin.token === undefined && !isLoopback(f.admin.host)) {
      ctx.addIssue({ code: 'custom', path: ['admin', 'token'], message: `an admin listener on ${f.admin.host} (beyond loopback) needs a token: status, drain and reload would be open to anyone who reaches it` });
    }
    const routes = routeConfigs(f);
    const where = (i: number, field: string) => (f.routes ? ['routes', i, field] : [field]);
    const names = new Set<string>();
    const cookies = new Set<string>();
    const byId = new Map<string, string>();
    const perDispatcher = new Map<string, number>();
    routes.forEach((r, i) => {
      if (r.dispatcher) {
        // A dispatcher keeps MAX_TABLES route tables: a route past them would lose its table to the others at every turn.
        const n = (perDispatcher.get(r.dispatcher.node) ?? 0) + 1;
        perDispatcher.set(r.dispatcher.node, n);
        if (n > MAX_TABLES) ctx.addIssue({ code: 'custom', path: where(i, 'dispatcher'), message: `the shared dispatcher on ${r.dispatcher.node} keeps ${MAX_TABLES} routes' tables: this is route ${n} on it (name another node, or let this route decide alone)` });
      }
      if (names.has(r.name)) ctx.addIssue({ code: 'custom', path: where(i, 'name'), message: `duplicate route name '${r.name}'` });
      names.add(r.name);
      if (r.sticky.mode === 'cookie') {
        if (r.sticky.keys.length === 0) ctx.addIssue({ code: 'custom', path: [...where(i, 'sticky'), 'keys'], message: 'cookie stickiness needs at least one key' });
        if (cookies.has(r.sticky.cookie)) ctx.addIssue({ code: 'custom', path: [...where(i, 'sticky'), 'cookie'], message: `two routes use the sticky cookie '${r.sticky.cookie}': give each its own name` });
        cookies.add(r.sticky.cookie);
      }
      if (r.backends === 'apps' && f.node === undefined) ctx.addIssue({ code: 'custom', path: ['node'], message: "'backends: apps' follows the app registries through a node: name this machine's node in front.node" });
      if ((r.policy === 'lard' || r.policy === 'lard_r') && r.sticky.mode === 'source_ip') ctx.addIssue({ code: 'custom', path: [...where(i, 'sticky'), 'mode'], message: 'sticky source_ip picks by the client address, not by LARD: choose one' });
      if (r.dispatcher && r.policy !== 'lard' && r.policy !== 'lard_r') ctx.addIssue({ code: 'custom', path: where(i, 'dispatcher'), message: 'a shared dispatcher decides LARD picks: the policy must be lard or lard_r' });
      if (r.dispatcher && f.node === undefined) ctx.addIssue({ code: 'custom', path: [...where(i, 'dispatcher'), 'node'], message: 'a shared dispatcher is reached through front.node: name this machine\'s node' });
      if (Array.isArray(r.backends)) {
        const seen = new Set<string>();
        r.backends.forEach((b, j) => {
          if (seen.has(b.id)) ctx.addIssue({ code: 'custom', path: [...where(i, 'backends'), j, 'id'], message: `duplicate back-end id '${b.id}'` });
          seen.add(b.id);
          const addr = `${b.host}:${b.port}`;
          const other = byId.get(b.id);
          if (other !== undefined && other !== addr) ctx.addIssue({ code: 'custom', path: [...where(i, 'backends'), j, 'id'], message: `back-end id '${b.id}' names ${other} in another route: one id, one address` });
          byId.set(b.id, addr);
        });
      }
    });
  });

export type FrontConfig = z.output<typeof frontSchema>;
export type RouteInput = z.output<typeof routeSchema>;
export type LardConfig = z.output<typeof lardSchema>;

/** One route with every field filled in (its own, else the front's). */
export interface RouteConfig {
  name: string;
  prefix: string;
  host: string | undefined;
  backends: FrontConfig['backends'];
  policy: FrontConfig['policy'];
  chashLoadFactor: number;
  sticky: FrontConfig['sticky'];
  health: FrontConfig['health'];
  lard: LardConfig;
  dispatcher: FrontConfig['dispatcher'];
}

/** The front's routes, in match order; without `routes:`, one route of the front's own fields. */
export function routeConfigs(f: Omit<FrontConfig, 'routes'> & { routes?: RouteInput[] }): RouteConfig[] {
  const base = { backends: f.backends, policy: f.policy, chashLoadFactor: f.chashLoadFactor, sticky: f.sticky, health: f.health, lard: f.lard, dispatcher: f.dispatcher };
  if (!f.routes) return [{ name: 'default', prefix: '/', host: undefined, ...base }];
  return f.routes.map((r, i) => ({
    name: r.name ?? `route${i}`,
    prefix: r.match.prefix,
    host: r.match.host?.toLowerCase(),
    backends: r.backends ?? base.backends,
    policy: r.policy ?? base.policy,
    chashLoadFactor: r.chashLoadFactor ?? base.chashLoadFactor,
    sticky: r.sticky ?? base.sticky,
    health: r.health ?? base.health,
    lard: r.lard ?? base.lard,
    // A front-wide dispatcher serves the routes that decide by LARD.
    dispatcher: r.dispatcher ?? ((r.policy ?? base.policy).startsWith('lard') ? base.dispatcher : undefined),
  }));
}
export type BackendConfig = z.output<typeof backendSchema>;

