import type { HostTable } from './host-table.ts';
import type { NodeEntry } from './schema.ts';

// What a newer host table changes, and which of it a running node can take at once (issue 28).
// A node takes a version once (older ones, and another text of the same version, are refused);
// what it cannot apply while running waits for its next start, as PostgreSQL's settings do
// (pending_restart): the version is kept on its disk and the node starts on it.

/** What a node says of its host table (hosts.current). */
export interface HostsStatus {
  /** The highest version this node accepted (0: an unversioned table). */
  version: number;
  hash: string | null;
  /** The version it runs on: lower while what a newer one changes waits for a restart. */
  running: number;
  /** What waits for a restart (empty: it runs on the version it holds). */
  pendingRestart: string[];
  /** Whether a newer version can reach this node (an operator key is pinned). */
  signed: boolean;
}

export interface TableVersion {
  version: number;
  hash: string;
}

/** 'take' a newer version, 'have' this one already, or why it is refused. */
export function judgeVersion(held: TableVersion, offered: TableVersion): 'take' | 'have' | string {
  if (offered.version > held.version) return 'take';
  if (offered.version < held.version) return `version ${offered.version} is older than version ${held.version}, which this node holds`;
  if (offered.hash === held.hash) return 'have';
  return `version ${offered.version} with another text (hash ${offered.hash.slice(0, 12)}) than this node's (${held.hash.slice(0, 12)}): a version is signed once`;
}

/** Why `next` may not follow `old`: it forgets an id `old` removed (ids are never used again, issue 28; a table's schema refuses one listed again among its nodes); undefined when none. */
export function reusesRemovedId(old: Pick<HostTable, 'removed'>, next: Pick<HostTable, 'removed'>): string | undefined {
  const forgotten = old.removed.filter((id) => !next.removed.includes(id));
  if (forgotten.length) return `it drops ${forgotten.join(', ')} from removed: an id removed stays removed`;
  return undefined;
}

export interface TableChange {
  /** Nodes in the new table only. */
  added: NodeEntry[];
  /** Node ids in the old table only. */
  removed: string[];
  /** Nodes in both now marked leaving (their entries otherwise the same). */
  leaving: string[];
  /** Nodes in both whose entries differ otherwise. */
  changed: string[];
  /** Cluster-wide settings that differ (the host table's own fields). */
  settings: string[];
}

/** Fields of HostTable that are not settings: where the file is, and its version. */
const NOT_SETTINGS = new Set(['file', 'version', 'nodes', 'removed']);

export function tableChange(old: HostTable, next: HostTable): TableChange {
  const before = new Map(old.nodes.map((n) => [n.id, n]));
  const after = new Map(next.nodes.map((n) => [n.id, n]));
  const keys = new Set([...Object.keys(old), ...Object.keys(next)].filter((k) => !NOT_SETTINGS.has(k)));
  const both = next.nodes.filter((n) => before.has(n.id) && !same(before.get(n.id), n));
  const onlyLeaving = (n: NodeEntry) => n.leaving === true && !before.get(n.id)!.leaving && same({ ...before.get(n.id), leaving: true }, n);
  return {
    added: next.nodes.filter((n) => !before.has(n.id)),
    removed: old.nodes.filter((n) => !after.has(n.id)).map((n) => n.id),
    leaving: both.filter(onlyLeaving).map((n) => n.id),
    changed: both.filter((n) => !onlyLeaving(n)).map((n) => n.id),
    settings: [...keys].filter((k) => !same((old as unknown as Record<string, unknown>)[k], (next as unknown as Record<string, unknown>)[k])).sort(),
  };
}

/**
 * What of a change a running node applies now, and what waits for its restart (the reasons).
 * Now: library nodes added joining (links, outbox, a lane to them; their backup keeps their copy),
 * access nodes that do not vote, added (their links are dialed, the outbox takes messages
 * for them), leaving (no new placements, fronts drain them) or removed (links closed, queued
 * messages set aside, subscriptions dropped); sessions' copies are placed anew each time. They
 * apply even while something else waits. The rest (library nodes and voters, which move homes'
 * backups and terms; changed entries and settings) waits.
 */
export function splitChange(change: TableChange, old: HostTable): { live: Pick<TableChange, 'added' | 'leaving' | 'removed'>; waits: string[] } {
  const waits: string[] = [];
  const kind = (n: NodeEntry) => (n.role !== 'access' ? `a ${n.role} node` : n.voter ? 'a voter' : undefined);
  const live = { added: [] as NodeEntry[], leaving: [] as string[], removed: [] as string[] };
  for (const n of change.added) {
    // A library node joining backs up no home and votes on none: it moves nothing that runs.
    const k = n.role === 'library' && n.joining ? undefined : kind(n);
    if (k) waits.push(`${n.id} added as ${k}`);
    else live.added.push(n);
  }
  for (const what of ['leaving', 'removed'] as const) {
    for (const id of change[what]) {
      const k = kind(old.nodes.find((n) => n.id === id)!);
      if (k) waits.push(`${id}, ${k}, ${what}`);
      else live[what].push(id);
    }
  }
  for (const id of change.changed) waits.push(`${id}'s entry changed`);
  for (const key of change.settings) waits.push(`${key} changed`);
  return { live, waits };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
}

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sorted(x)]));
  return v;
}
