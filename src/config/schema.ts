import { nodeTlsSchema } from './tls-schema.ts';
import { z } from 'zod';
import { frontSchema, routeConfigs } from './front-schema.ts';
import { appSectionSchema, mergeAppSettings } from './app-schema.ts';

// The host table (seed 000's hosts.tab) as validated data. Every object is strict:
// an unknown field is a typo the operator wants to hear about, not something to ignore.

const name = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, `${what} must be 1-32 letters, digits, '_' or '-', starting with a letter or digit`);

const port = z.number().int().min(1).max(65535);
const ms = z.number().int().positive();

export const linkSettingsSchema = z.strictObject({
  /** An idle link sends a heartbeat this often. */
  heartbeatMs: ms.default(1000),
  /** A link that has heard nothing for this long is declared dead and closed. */
  deadAfterMs: ms.default(3000),
  connectTimeoutMs: ms.default(3000),
  /** A command without a reply after this long answers con_lost. */
  requestTimeoutMs: ms.default(10_000),
  backoffMinMs: ms.default(100),
  backoffMaxMs: ms.default(30_000),
  maxFrameBytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(16 * 1024 * 1024),
});

export const criticalSettingsSchema = z.strictObject({
  /** Critical messages in flight to one peer at once. */
  window: z.number().int().min(1).max(100_000).default(512),
  /** How long a sender waits for the peer's ack before it hears 'delayed'. */
  waitMs: ms.default(2000),
  /** Redials of a down peer while senders wait, retryDelayMs apart, doubling. */
  retries: z.number().int().min(0).max(20).default(3),
  retryDelayMs: ms.default(200),
  /** How long a receiver remembers applied message ids. */
  inboxRetentionHours: z.number().positive().default(168),
});

/** Published resources and their copies (seed 000's dynamic resource replication). */
export const resourceSettingsSchema = z.strictObject({
  /** A copy read within this many hours is refreshed when its author publishes; older copies are dropped and unsubscribed (U2). */
  readWindowH: z.number().positive().max(24 * 365).default(24),
  /** The largest resource a node accepts (a publish, an upload, a copy). */
  maxBytes: z.number().int().min(1).max(2 ** 50).default(1024 ** 3),
  /** Requests waiting on transfers in progress, on one node; past it, 503 with Retry-After (D1a). */
  maxWaiting: z.number().int().min(1).max(1_000_000).default(1000),
  /** Transfers in progress at once on one node; past it, 503 with Retry-After. */
  maxTransfers: z.number().int().min(1).max(10_000).default(32),
  /** A transfer that moves no byte for this long fails. */
  transferIdleMs: ms.default(30_000),
  /** Per author, on her home node: the bytes of every version kept (summed); a publish past it is refused (413). */
  authorMaxBytes: z.number().int().min(1).max(2 ** 50).default(1024 ** 3),
  /** Per author, on her home node: versions kept, over all her resources; a publish past it is refused (413). */
  authorMaxVersions: z.number().int().min(1).max(10_000_000).default(1000),
  /** Per node: the bytes of copies of others' resources; past it the least recently read copies are dropped (and unsubscribed). */
  copyBudgetBytes: z.number().int().min(1).max(2 ** 50).default(10 * 1024 ** 3),
  /**
   * Per node: bytes of resources (published here or copied) held in memory, the least recently
   * served dropped first; a plain GET of one is served without reading its file (0: none).
   */
  memoryCacheBytes: z.number().int().min(0).max(2 ** 40).default(64 * 1024 ** 2),
  /** The largest resource held in memory; a copy up to this size is also served from memory as soon as its bytes are checked. */
  memoryCacheMaxFileBytes: z.number().int().min(0).max(64 * 1024 ** 2).default(1024 ** 2),
  /** Free bytes under the node's data folder below which publishes and new copies are refused (507). */
  minFreeBytes: z.number().int().min(0).max(2 ** 50).default(512 * 1024 ** 2),
});

export const nodeSchema = z.strictObject({
  id: name('node id'),
  domain: name('domain'),
  role: z.enum(['library', 'access']),
  host: z.string().min(1).max(253),
  linkPort: port,
  /**
   * Leaving the cluster (issue 28): no new placements (sessions' copies move off it, logins go
   * elsewhere), fronts drain it, its outbox drains; the next version removes it.
   */
  leaving: z.boolean().optional(),
  /**
   * A library node joining while the cluster runs (issue 28; `cohort hosts add --role library`
   * sets it): it takes new users and users moved to it, and its backup (another library node of
   * its domain) keeps its copy, but it votes on no home's terms and backs up no other home, so
   * no running home's backup or voters change. A later version without it, taken at each node's
   * restart, makes it a full member.
   */
  joining: z.boolean().optional(),
  /**
   * The SHA-256 of the node's certificate (64 hex digits, as `openssl x509 -fingerprint -sha256`
   * without colons; `cohort hosts add` and `cohort hosts pin` write it): its links and transfers
   * are refused under any other certificate, though the cluster CA signed it (a node's retired
   * or stolen certificate).
   */
  certSha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits (the SHA-256 of the certificate)').optional(),
  /**
   * An access node that votes on which library node takes a home's writes (issue 27). A domain's
   * voters are its library nodes and these; promotion and leases need at least 3.
   */
  voter: z.boolean().optional(),
  /** The port the node binds when a forwarder sits in front of linkPort (default: linkPort). */
  bindLinkPort: port.optional(),
  httpPort: port,
  /** HTTPS on httpPort (tls-schema.ts): certificate files, the profile, HSTS. */
  tls: nodeTlsSchema.optional(),
  /** The load average this node counts as 100% (seed 000); defaults to the cluster's value. */
  loadFullAt: z.number().positive().optional(),
  /** The active sessions this node counts as 100% user load; defaults to the cluster's value. */
  loadUserLimit: z.number().int().min(0).optional(),
  /** Where this node sends logins when it is over 100% (seed 000's spare servers): the least loaded one under 100%. */
  spares: z.array(name('node id')).max(64).default([]),
  /** The URL at which clients reach this node's app directly (no front): where a login handed over to it continues. */
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** This node's overrides of the cluster's `app:` section (a library node runs a pool only with one). */
  app: appSectionSchema.optional(),
  /**
   * Where a library node keeps its users and their records: its own SQLite file (the default,
   * copied to its backup) or PostgreSQL, whose standby is then the backup (issue 27).
   */
  records: z
    .strictObject({
      postgres: z.strictObject({
        /** postgres://user@host:port/database; give the password in PGPASSWORD or ~/.pgpass rather than here. */
        url: z
          .string()
          .max(2048)
          .refine((u) => /^postgres(ql)?:\/\/[^\s]+$/.test(u) && URL.canParse(u), 'a postgres:// or postgresql:// URL')
          // The host table is copied to every node: a password in it would be on each of them.
          .refine((u) => !URL.canParse(u) || (new URL(u).password === '' && !/[?&]password=/i.test(u)), 'no password in the URL: give it in PGPASSWORD or ~/.pgpass on the node'),
        /** Its tables' schema (default cohort_<node id, lower case>): several nodes may share one database. */
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a schema name: lower-case letters, digits and _, at most 63')
          .refine((n) => !n.startsWith('pg_'), "schema names starting with 'pg_' are PostgreSQL's own")
          .optional(),
        /** Connections to it (node-postgres' default is 10). */
        maxConnections: z.number().int().min(1).max(1000).default(10),
      }),
    })
    .optional(),
});

const hostTableBaseSchema = z
  .strictObject({
    /** The table's version (issue 28): a node takes a newer one, signed by the operator's key, while it runs. */
    version: z.number().int().min(1).max(2 ** 31).optional(),
    cluster: name('cluster name'),
    /** Ids of nodes removed from the cluster (issue 28): never used again, so no certificate made for one is taken for another node. */
    removed: z.array(name('node id')).max(100_000).default([]),
    dataDir: z.string().min(1),
    tls: z.strictObject({ dir: z.string().min(1) }),
    domains: z.array(name('domain')).min(1),
    load: z
      .strictObject({
        /** The 1-minute load average that counts as 100% (default: the CPU count). */
        fullAt: z.number().positive().optional(),
        /** Sessions active within sessionWindowMin that count as 100% (seed 000's user limit); 0: no user load. */
        userLimit: z.number().int().min(0).default(0),
        sessionWindowMin: z.number().int().min(1).max(1440).default(10),
        /** How long a login handed over to a spare may wait to be taken up there. */
        handoverTtlS: z.number().int().min(1).max(600).default(30),
      })
      .default({ userLimit: 0, sessionWindowMin: 10, handoverTtlS: 30 }),
    sessions: z
      .strictObject({
        /**
         * Sessions without a login this node keeps copies of; past it, the least recently written
         * go first (a client that makes a session per request cannot fill the disk). Logged-in
         * sessions are never dropped for room.
         */
        maxAnonymous: z.number().int().min(100).max(100_000_000).default(200_000),
      })
      .default({ maxAnonymous: 200_000 }),
    resources: resourceSettingsSchema.default(resourceSettingsSchema.parse({})),
    link: linkSettingsSchema.default(linkSettingsSchema.parse({})),
    critical: criticalSettingsSchema.default(criticalSettingsSchema.parse({})),
    /** A home's lease (issue 27): a home that has not renewed it with a majority of its domain's voters for this long may be replaced. */
    homes: z.strictObject({ leaseMs: z.number().int().min(1000).max(120_000).default(8000) }).default({ leaseMs: 8000 }),
    nodes: z.array(nodeSchema).min(1),
    /**
     * The nodes' admin token: a node's dashboard (on its httpPort) answers whoever shows it
     * (Authorization: Bearer, or ?token= on the page). Without it, only nodes bound to loopback serve it.
     */
    admin: z.strictObject({ token: z.string().min(16, 'admin tokens are at least 16 characters').max(512) }).optional(),
    /** Domain X: [Y, ...] lets nodes of Y read and write the records of X's users (seed 000's domains). */
    trust: z.record(z.string(), z.array(name('domain'))).default({}),
    /** The HTTP front (`cohort front`). */
    front: frontSchema.optional(),
    /** The web application every access node runs as a pool of instances (the supervisor). */
    app: appSectionSchema.optional(),
  });

/** Whether a node keeps its users and records in PostgreSQL (no backup of Cohort's: PostgreSQL's standby is it). */
export function recordsInPostgres(node: { records?: { postgres?: unknown } } | undefined): boolean {
  return node?.records?.postgres !== undefined;
}

/** A library node's PostgreSQL schema: the one it names, or cohort_<its id in lower case, '-' as '_'>. */
export function postgresSchemaOf(node: { id: string; records?: { postgres?: { schema?: string } } }): string {
  return node.records?.postgres?.schema ?? `cohort_${node.id.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
}

/** Which database a URL names (its host, port and database; not who connects). */
function postgresPlace(url: string): string {
  if (!URL.canParse(url)) return url;
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
}

export const hostTableSchema = hostTableBaseSchema
  .superRefine((table, ctx) => {
    const seenDomains = new Set<string>();
    table.domains.forEach((d, i) => {
      if (seenDomains.has(d)) ctx.addIssue({ code: 'custom', path: ['domains', i], message: `duplicate domain '${d}'` });
      seenDomains.add(d);
    });
    const ids = new Map<string, number>();
    const ports = new Map<string, string>();
    const postgresPlaces = new Map<string, string>();
    table.nodes.forEach((node, i) => {
      const prev = ids.get(node.id);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: `duplicate node id '${node.id}' (also nodes[${prev}])` });
      if (node.voter !== undefined && node.role !== 'access') ctx.addIssue({ code: 'custom', path: ['nodes', i, 'voter'], message: 'library nodes always vote: only an access node says voter' });
      if (node.joining !== undefined && node.role !== 'library') ctx.addIssue({ code: 'custom', path: ['nodes', i, 'joining'], message: 'only a library node joins (an access node is added as it is)' });
      if (node.records && node.role !== 'library') ctx.addIssue({ code: 'custom', path: ['nodes', i, 'records'], message: 'only a library node keeps users and records' });
      const pg = node.records?.postgres;
      if (pg) {
        // Two homes in one schema would each take the other's users for its own.
        const place = `${postgresPlace(pg.url)}\0${postgresSchemaOf(node)}`;
        const other = postgresPlaces.get(place);
        if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'records', 'postgres', 'schema'], message: `the same database and schema (${postgresSchemaOf(node)}) as node ${other}: give each home a schema of its own` });
        postgresPlaces.set(place, node.id);
      }
      ids.set(node.id, i);
      if (table.removed.includes(node.id)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: `'${node.id}' was removed (removed: [...]): an id is never used again; give the node a new one` });
      if (!seenDomains.has(node.domain)) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'domain'], message: `unknown domain '${node.domain}' (declared: ${table.domains.join(', ')})` });
      }
      for (const field of ['linkPort', 'httpPort', 'bindLinkPort'] as const) {
        if (node[field] === undefined) continue;
        const key = `${node.host}:${node[field]}`;
        const owner = ports.get(key);
        if (owner) ctx.addIssue({ code: 'custom', path: ['nodes', i, field], message: `port ${key} is already used by ${owner}` });
        ports.set(key, `nodes[${i}].${field}`);
      }
    });
    const pools = checkAppPools(table, ctx, ports);
    table.nodes.forEach((node, i) => {
      node.spares.forEach((spare, j) => {
        if (!ids.has(spare)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'spares', j], message: `no node '${spare}' in the host table` });
        else if (spare === node.id) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'spares', j], message: 'a node is not its own spare' });
      });
    });
    for (const [owner, trusted] of Object.entries(table.trust)) {
      if (!seenDomains.has(owner)) ctx.addIssue({ code: 'custom', path: ['trust', owner], message: `unknown domain '${owner}'` });
      trusted.forEach((d, i) => {
        if (!seenDomains.has(d)) ctx.addIssue({ code: 'custom', path: ['trust', owner, i], message: `unknown domain '${d}'` });
      });
    }
    const front = table.front;
    const acmeHome = front?.listen?.tls?.acme?.home;
    if (acmeHome !== undefined && !ids.has(acmeHome)) ctx.addIssue({ code: 'custom', path: ['front', 'listen', 'tls', 'acme', 'home'], message: `no node '${acmeHome}' in the host table` });
    table.nodes.forEach((n, i) => {
      const home = n.tls?.acme?.home;
      if (home !== undefined && !ids.has(home)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'tls', 'acme', 'home'], message: `no node '${home}' in the host table` });
    });
    if (front?.node !== undefined && !ids.has(front.node)) {
      ctx.addIssue({ code: 'custom', path: ['front', 'node'], message: `no node '${front.node}' in the host table` });
    }
    (front ? routeConfigs(front) : []).forEach((r, i) => {
      const at = (field: string) => (front!.routes ? ['front', 'routes', i, field] : ['front', field]);
      if (r.backends === 'access' && !table.nodes.some((n) => n.role === 'access')) ctx.addIssue({ code: 'custom', path: at('backends'), message: "'access' needs at least one access node" });
      if (r.backends === 'apps' && pools.length === 0) ctx.addIssue({ code: 'custom', path: at('backends'), message: "'apps' needs an app: section that gives some node a pool (instances > 0)" });
      if (r.dispatcher && !ids.has(r.dispatcher.node)) ctx.addIssue({ code: 'custom', path: [...at('dispatcher'), 'node'], message: `no node '${r.dispatcher.node}' in the host table` });
      if (Array.isArray(r.backends)) {
        r.backends.forEach((b, j) => {
          if (b.node !== undefined && !ids.has(b.node)) ctx.addIssue({ code: 'custom', path: [...at('backends'), j, 'node'], message: `no node '${b.node}' in the host table` });
        });
      }
    });
    if (table.link.deadAfterMs <= table.link.heartbeatMs) {
      ctx.addIssue({ code: 'custom', path: ['link', 'deadAfterMs'], message: 'must be greater than heartbeatMs' });
    }
    if (table.link.backoffMaxMs < table.link.backoffMinMs) {
      ctx.addIssue({ code: 'custom', path: ['link', 'backoffMaxMs'], message: 'must be at least backoffMinMs' });
    }
  });

type Ctx = z.core.$RefinementCtx<z.output<typeof hostTableBaseSchema>>;

/** Each node's merged app section is valid, and its port range meets no other port of that host. Returns the nodes with a pool. */
function checkAppPools(table: z.output<typeof hostTableBaseSchema>, ctx: Ctx, ports: Map<string, string>): string[] {
  const pools: string[] = [];
  const ranges: { host: string; from: number; to: number; owner: string }[] = [];
  table.nodes.forEach((node, i) => {
    const { settings, issues } = mergeAppSettings(table.app, node.app, node.role, '.');
    for (const issue of issues ?? []) {
      // A field missing everywhere is the cluster section's fault; an override's fault is the node's.
      const where = node.app && issue.path[0] !== undefined && issue.path[0] in node.app ? ['nodes', i, 'app'] : table.app ? ['app'] : ['nodes', i, 'app'];
      ctx.addIssue({ code: 'custom', path: [...where, ...issue.path], message: `${issue.message}${where[0] === 'app' ? ` (for node ${node.id})` : ''}` });
    }
    if (!settings) return;
    pools.push(node.id);
    const from = settings.basePort;
    const to = settings.basePort + settings.portSpan - 1;
    const owner = `nodes[${i}] (${node.id}) app ports ${from}-${to}`;
    for (const [key, other] of ports) {
      const [host, p] = [key.slice(0, key.lastIndexOf(':')), Number(key.slice(key.lastIndexOf(':') + 1))];
      if (host === node.host && p >= from && p <= to) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'app', 'basePort'], message: `${owner} include port ${p} of ${other}; set this node's app.basePort or app.portSpan` });
    }
    for (const r of ranges) {
      if (r.host === node.host && from <= r.to && r.from <= to) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'app', 'basePort'], message: `${owner} overlap ${r.owner} on ${node.host}; give each node its own app.basePort` });
    }
    ranges.push({ host: node.host, from, to, owner });
  });
  return pools;
}

export type HostTableInput = z.input<typeof hostTableSchema>;
export type LinkSettings = z.output<typeof linkSettingsSchema>;
export type CriticalSettings = z.output<typeof criticalSettingsSchema>;
export type ResourceSettings = z.output<typeof resourceSettingsSchema>;
export type NodeEntry = z.output<typeof nodeSchema>;
