import { DatabaseSync } from 'node:sqlite';
import { TestCluster, type ClusterNodeSpec } from './cluster.ts';
import { waitFor } from './wait.ts';

/**
 * msu's library nodes A and E, which back each other up (issue 27), with `others` (access nodes
 * that write to their users, another domain's nodes), started with links up: critical messages
 * wait 2 s for their ack, redials come quickly.
 */
export async function homePairCluster(others: ClusterNodeSpec[]): Promise<TestCluster> {
  const c = await TestCluster.create(
    [{ id: 'A', domain: 'msu', role: 'library' }, { id: 'E', domain: 'msu', role: 'library' }, ...others],
    { critical: { waitMs: 2000, retries: 1, retryDelayMs: 100 }, link: { backoffMinMs: 100, backoffMaxMs: 1000 } },
  );
  await c.startAll();
  await waitFor('links up', () => c.linksUp());
  return c;
}

/** The rows a query reads from a SQLite file (a node's node.db, a backup's replicas/<home>.db), read-only. */
export function sqlRows(file: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return db.prepare(sql).all().map((r) => ({ ...r }));
  } finally {
    db.close();
  }
}
