import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import { postgresSchemaOf, type NodeEntry } from '../config/schema.ts';
import type { HomeStore } from '../records/stores/home-store.ts';
import { PostgresHome } from '../records/stores/postgres-home.ts';
import type { ChangeSink } from '../records/stores/record-store.ts';
import { SqliteHome } from '../records/stores/sqlite-home.ts';
import { sqliteUserMoves } from '../homes/sqlite-moves.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { Part, PartHealth } from './lifecycle.ts';

/** The store the host table names for this node's users and records: PostgreSQL, or (the default) the node's own file. */
export function homeStoreFor(self: NodeEntry, db: DatabaseSync, commit: GroupCommit, changes: ChangeSink, log: Logger): HomeStore {
  const pg = self.records?.postgres;
  if (!pg) return new SqliteHome(db, commit, changes, (store) => sqliteUserMoves(db, store, changes));
  return new PostgresHome({ url: pg.url, schema: postgresSchemaOf(self), maxConnections: pg.maxConnections, log });
}

/** How often a store on another server is asked whether it answers (what node.parts and doctor show). */
const PROBE_EVERY_MS = 5000;

/**
 * The home store as a part of the node: PostgreSQL's tables made at the start. A node whose
 * PostgreSQL cannot be reached starts anyway (its other parts serve; each use of the store tries
 * again, con_lost until it works) and says so in its parts' status.
 */
export class HomeStorePart implements Part {
  private readonly store: HomeStore;
  private readonly log: Logger;
  private probeTimer: NodeJS.Timeout | undefined;

  constructor(store: HomeStore, log: Logger) {
    this.store = store;
    this.log = log;
  }

  async start(): Promise<void> {
    await this.store.prepare().catch((err: unknown) => this.log.warn({ event: 'home_store_unreachable', kind: this.store.kind, err: (err as Error).message }, `cannot reach the users' and records' store (${this.store.kind}) yet: ${(err as Error).message}`));
    if (this.store.probe) {
      this.probeTimer = setInterval(() => void this.store.probe!(), PROBE_EVERY_MS);
      this.probeTimer.unref();
    }
  }

  drain(): void {
    clearInterval(this.probeTimer);
  }

  stop(): Promise<void> {
    return this.store.close();
  }

  status(): PartHealth {
    return this.store.status();
  }
}
