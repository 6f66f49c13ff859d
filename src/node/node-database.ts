import { mkdirSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import { inspectWal, nodeDatabasePath, openNodeDatabase, openSessionsDatabase, quickCheck } from '../store/database.ts';
import { GroupCommit } from '../store/group-commit.ts';
import type { Part, PartHealth } from './lifecycle.ts';

/**
 * A node's two SQLite databases (its own, and sessions'), opened when the node is built. The
 * node's first part: checked at start, closed last, after what was queued for commit is in.
 */
export class NodeDatabase implements Part {
  readonly db: DatabaseSync;
  readonly commit: GroupCommit;
  readonly sessionsDb: DatabaseSync;
  private readonly log: Logger;
  private problems: string[] = [];

  constructor(dataDir: string, log: Logger) {
    this.log = log;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const torn = inspectWal(nodeDatabasePath(dataDir));
    if (torn) {
      log.error({ event: 'wal_torn_tail', bytes: torn.tornBytes }, `the database's write-ahead log ends ${torn.tornBytes} bytes into an incomplete frame; SQLite drops that tail, what came before is kept`);
    }
    this.db = openNodeDatabase(dataDir);
    this.commit = new GroupCommit(this.db);
    this.sessionsDb = openSessionsDatabase(dataDir);
  }

  start(): void {
    this.problems = quickCheck(this.db);
    if (this.problems.length) this.log.error({ event: 'database_damaged', problems: this.problems }, 'SQLite quick_check found problems');
  }

  /** Damaged if SQLite's quick_check found problems when the node started. */
  status(): PartHealth {
    if (this.problems.length === 0) return { ok: true };
    return { ok: false, detail: `quick_check at start found ${this.problems.length} problem(s): ${this.problems[0].slice(0, 200)}` };
  }

  async stop(): Promise<void> {
    await this.commit.run(() => undefined); // what was queued before is committed too
    this.db.close();
    this.sessionsDb.close();
  }
}
