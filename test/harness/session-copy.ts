import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { visible, type SessionState } from '../../src/sessions/session-state.ts';
import type { TestCluster } from './cluster.ts';

/**
 * What node `id`'s own copy of a session holds, read from its sessions.db while it runs (WAL: a
 * reader sees the last commit). Its reads through the node would merge both copies.
 */
export function copyAt(c: TestCluster, id: string, sid: string): Record<string, unknown> | undefined {
  const db = new DatabaseSync(join(c.table.dataDir, id, 'sessions.db'), { readOnly: true });
  try {
    const row = db.prepare('SELECT state FROM sessions WHERE id = ?').get(sid) as { state: string } | undefined;
    return row ? visible(JSON.parse(row.state) as SessionState, Date.now())?.data : undefined;
  } finally {
    db.close();
  }
}
