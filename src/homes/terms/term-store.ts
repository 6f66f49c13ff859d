import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { join } from 'node:path';
import { openDurableDatabase } from '../../store/database.ts';

/**
 * What a voter holds of a home (issue 27): the epoch it last granted or heard of, the node that
 * takes the home's writes at that epoch, whether that node's partner holds every write it
 * acknowledged (`inSync`), and the version of that flag within the epoch (the primary's updates
 * may arrive out of order).
 */
export interface Term {
  epoch: number;
  primary: string;
  inSync: boolean;
  version: number;
}

/** Before anything was recorded: the home itself at epoch 0, its backup not known to be in step. */
export function initialTerm(home: string): Term {
  return { epoch: 0, primary: home, inSync: false, version: 0 };
}

/**
 * A voter's terms on its disk (data/<node>/terms.db, synchronous=FULL): a voter answers only
 * after what it granted or recorded is there, so a restart never grants an epoch twice.
 */
export class TermStore {
  private readonly db: DatabaseSync;
  private readonly get_: StatementSync;
  private readonly put_: StatementSync;

  constructor(dataDir: string) {
    this.db = openDurableDatabase(join(dataDir, 'terms.db'));
    this.db.exec(`CREATE TABLE IF NOT EXISTS terms (
      home TEXT PRIMARY KEY, epoch INTEGER NOT NULL, "primary" TEXT NOT NULL, in_sync INTEGER NOT NULL, version INTEGER NOT NULL
    ) WITHOUT ROWID`);
    this.get_ = this.db.prepare('SELECT epoch, "primary", in_sync AS inSync, version FROM terms WHERE home = ?');
    this.put_ = this.db.prepare('INSERT OR REPLACE INTO terms (home, epoch, "primary", in_sync, version) VALUES (?, ?, ?, ?, ?)');
  }

  get(home: string): Term {
    const row = this.get_.get(home) as { epoch: number; primary: string; inSync: number; version: number } | undefined;
    return row ? { epoch: row.epoch, primary: row.primary, inSync: row.inSync === 1, version: row.version } : initialTerm(home);
  }

  put(home: string, t: Term): void {
    this.put_.run(home, t.epoch, t.primary, t.inSync ? 1 : 0, t.version);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
