import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve, join } from 'node:path';
import { cpus } from 'node:os';
import { parseDocument } from 'yaml';
import type { FrontConfig } from './front-schema.ts';
import { mergeAppSettings, type AppSection, type AppSettings } from './app-schema.ts';
import { hostTableSchema, type CriticalSettings, type LinkSettings, type NodeEntry, type ResourceSettings } from './schema.ts';

/** A config file that cannot be used; the message names the file, the field and the fault. */
export class ConfigError extends Error {
  readonly file: string;
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`${file}: invalid configuration\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.file = file;
    this.problems = problems;
  }
}

export interface HostTable {
  file: string;
  /** The table's `version` (0: the file names none; such a table cannot change while nodes run). */
  version: number;
  /** Ids of nodes removed: never used again. */
  removed: string[];
  cluster: string;
  /** Absolute; node X keeps its files under dataDir/X. */
  dataDir: string;
  /** Absolute folder of the cluster CA and node certificates. */
  tlsDir: string;
  domains: string[];
  link: LinkSettings;
  critical: CriticalSettings;
  resources: ResourceSettings;
  nodes: NodeEntry[];
  /** Domain -> the other domains whose nodes may use its users' records. */
  trust: Record<string, string[]>;
  front: FrontConfig | undefined;
  /** The cluster-wide `app:` section (each node's own overrides sit in its entry). */
  app: AppSection | undefined;
  /** The nodes' admin token (their dashboards beyond loopback), if set. */
  admin: { token: string } | undefined;
  /** The load average a node counts as 100% unless its own entry says otherwise. */
  loadFullAt: number;
  /** Active sessions that count as 100% user load (0: none). */
  loadUserLimit: number;
  loadSessionWindowMs: number;
  /** How long a login handed over to another node may wait to be taken up. */
  handoverTtlMs: number;
  /** Copies of sessions without a login a node keeps (the least recently written go first). */
  sessionsMaxAnonymous: number;
  /** A home's lease with its domain's voters (issue 27). */
  homeLeaseMs: number;
}

export function parseHostTable(file: string, text: string): HostTable {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  }
  const parsed = hostTableSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    throw new ConfigError(
      file,
      parsed.error.issues.map((issue) => `${formatPath(issue.path) || '(top level)'}: ${issue.message}`),
    );
  }
  const t = parsed.data;
  const base = dirname(resolve(file));
  return {
    file: resolve(file),
    version: t.version ?? 0,
    removed: t.removed,
    cluster: t.cluster,
    dataDir: resolve(base, t.dataDir),
    tlsDir: resolve(base, t.tls.dir),
    domains: t.domains,
    link: t.link,
    critical: t.critical,
    resources: t.resources,
    nodes: t.nodes,
    trust: t.trust,
    front: t.front,
    app: t.app,
    admin: t.admin,
    loadFullAt: t.load.fullAt ?? cpus().length,
    loadUserLimit: t.load.userLimit,
    loadSessionWindowMs: t.load.sessionWindowMin * 60_000,
    handoverTtlMs: t.load.handoverTtlS * 1000,
    sessionsMaxAnonymous: t.sessions.maxAnonymous,
    homeLeaseMs: t.homes.leaseMs,
  };
}

export function loadHostTable(file: string): HostTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read: ${(err as Error).message}`]);
  }
  return parseHostTable(file, text);
}

export function findNode(table: HostTable, id: string): NodeEntry {
  const node = table.nodes.find((n) => n.id === id);
  if (!node) throw new ConfigError(table.file, [`no node '${id}' in the host table (nodes: ${table.nodes.map((n) => n.id).join(', ')})`]);
  return node;
}

/**
 * A digest of node `id`'s app settings as written (before paths are resolved against the file's
 * folder): two copies of a host table that agree on it start the same app the same way.
 */
export function appSettingsDigest(table: HostTable, id: string): string {
  const node = findNode(table, id);
  // Resolved against '/', not the caller's folder; keys sorted, so YAML's order does not count.
  const settings = mergeAppSettings(table.app, node.app, node.role, '/').settings ?? null;
  return createHash('sha256').update(JSON.stringify(settings, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v))).digest('hex').slice(0, 16);
}

/** Node `id`'s app pool settings (cluster section, its own on top), or undefined if it runs none. */
export function appSettingsFor(table: HostTable, id: string): AppSettings | undefined {
  const node = findNode(table, id);
  return mergeAppSettings(table.app, node.app, node.role, dirname(table.file)).settings;
}

export function nodeDataDir(table: HostTable, id: string): string {
  return join(table.dataDir, id);
}

/** The node's UNIX-domain socket, where local processes send commands (the operator's: CLI, front). */
export function localSocketPath(table: HostTable, id: string): string {
  return join(nodeDataDir(table, id), 'cohort.sock');
}

/** The socket the node gives its app instances ($COHORT_SOCKET): whoever comes on it is an app. */
export function appSocketPath(table: HostTable, id: string): string {
  return join(nodeDataDir(table, id), 'app.sock');
}

function formatPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Where a client reaches node `n`'s own HTTP port: https when the node has tls. */
export function nodeHttpUrl(n: NodeEntry): string {
  const host = n.host.includes(':') ? `[${n.host}]` : n.host;
  return `${n.tls ? 'https' : 'http'}://${host}:${n.httpPort}`;
}
