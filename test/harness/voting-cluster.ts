import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { BackupStatus } from '../../src/homes/home-shipper.ts';
import { TestCluster } from './cluster.ts';
import { waitFor } from './wait.ts';

/** The lease of a voting cluster's homes: short, so a test's outage outlasts it. */
export const VOTING_LEASE_MS = 2000;

/**
 * Issue 27's cluster for terms and promotion: msu's voters are library nodes A (the home) and E
 * (its backup) and access node V (`voter: true`); J, an access node that does not vote, is the
 * client. Started with each node's extra environment (test hooks), links up.
 */
export async function votingCluster(env: Record<string, Record<string, string>> = {}): Promise<TestCluster> {
  const c = await TestCluster.create(
    [
      { id: 'A', role: 'library' },
      { id: 'E', role: 'library' },
      { id: 'V', role: 'access', voter: true },
      { id: 'J', role: 'access' },
    ],
    { homes: { leaseMs: VOTING_LEASE_MS }, critical: { waitMs: 1500, retries: 1, retryDelayMs: 100 }, link: { backoffMinMs: 100, backoffMaxMs: 500 } },
  );
  await Promise.all(c.ids.map((id) => c.start(id, env[id] ?? {})));
  await waitFor('links up', () => c.linksUp());
  return c;
}

/** Home A's backup status (home.backup), asked through J. */
export async function homeStatusOf(c: TestCluster): Promise<BackupStatus> {
  return ((await (await c.client('J')).call('A', 'home.backup', {})) as { home: BackupStatus }).home;
}

/** Whether `node` holds home A's writes now, and at which epoch (home.term.holder), asked through J. */
export async function holderOf(c: TestCluster, node: string): Promise<{ holds: boolean; epoch: number }> {
  return (await (await c.client('J')).call(node, 'home.term.holder', { home: 'A' })) as { holds: boolean; epoch: number };
}

/** One value read from node `id`'s node.db, opened read-only beside the running node. */
export function readNodeDb<T>(c: TestCluster, id: string, read: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(join(c.table.dataDir, id, 'node.db'), { readOnly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** The numbers ann (msu) stored under `ns` in the history of the database at `file`, in order. */
export function historyIn(file: string, ns: string): number[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return (db.prepare("SELECT data FROM history WHERE domain = 'msu' AND user = 'ann' AND ns = ? ORDER BY seq").all(ns) as { data: string }[]).map((r) => (JSON.parse(r.data) as { i: number }).i);
  } finally {
    db.close();
  }
}

/** The last number of A's own change log: a write A applies itself adds to it (a copy taken back from E does not). */
export function logOfA(c: TestCluster): number {
  return readNodeDb(c, 'A', (db) => (db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'home_log'), 0) AS n").get() as { n: number }).n);
}
