import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { Logger } from 'pino';
import { CohortError } from '../../errors.ts';
import type { HomeStore } from './home-store.ts';
import { asCohortError, sqlstateOf, TABLES_GONE } from './postgres-errors.ts';
import { IN_TRANSACTION, knownUsers, PostgresRecords, PostgresUsers, type StoreGate } from './postgres-rows.ts';

export interface PostgresHomeOptions {
  /** postgres://user@host:port/database; its password from PGPASSWORD or ~/.pgpass. */
  url: string;
  /** The schema this home's tables live in: several homes may share one database. */
  schema: string;
  /** Connections in the pool (node-postgres' default is 10). */
  maxConnections?: number;
  /** Where idle connections' failures are said. */
  log?: Logger;
}

/**
 * How long a statement may take, and a transaction sit idle, before PostgreSQL ends it: a
 * receiver that died mid-transaction does not keep its message's row locked for hours, and a
 * silent network fails in seconds (con_lost: the message is sent again) instead of ~15 minutes.
 */
const STATEMENT_TIMEOUT_MS = 30_000;
const IDLE_IN_TRANSACTION_MS = 60_000;
const LOCK_TIMEOUT_MS = 10_000;

type Tx = { users: PostgresUsers; records: PostgresRecords };

/**
 * A home's users and records in PostgreSQL (issue 27, "when a user outgrows this"): the same
 * answers as the SQLite stores (the conformance suite checks both), and critical messages applied
 * once by recording their ids in the same transaction as their effect (`once`, `batch`). The
 * durability and the standby are PostgreSQL's (synchronous_commit, Patroni's synchronous mode).
 */
export class PostgresHome implements HomeStore {
  readonly kind = 'postgres';
  readonly users: PostgresUsers;
  readonly records: PostgresRecords;
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private prepared = false;
  private preparing: Promise<void> | undefined;
  /** The last failure to reach it, until a statement is answered again. */
  private lastError: string | undefined;
  /** The batch() this call runs in, if any: its connection, and the end of the once() calls made in it so far. */
  private readonly tx = new AsyncLocalStorage<{ client: pg.PoolClient; turn: Promise<unknown>; closed: boolean }>();
  private readonly gate: StoreGate;
  private readonly known = knownUsers();

  /** The pool is made now; nothing connects until prepare() or the first statement. */
  constructor(opts: PostgresHomeOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.maxConnections ?? 10,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // The client gives up a little after the server would have: a server that no longer answers at all.
      query_timeout: STATEMENT_TIMEOUT_MS + 5000,
      application_name: 'cohort',
      options: `-c statement_timeout=${STATEMENT_TIMEOUT_MS} -c lock_timeout=${LOCK_TIMEOUT_MS} -c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS}`,
    });
    // An idle client whose server went away emits here; the next statement gets a new one.
    this.pool.on('error', (err) => opts.log?.warn({ event: 'postgres_idle_client_error', err: err.message }, `an idle PostgreSQL connection failed: ${err.message}`));
    this.schema = pg.escapeIdentifier(opts.schema);
    this.gate = {
      ready: () => this.prepare(),
      answered: (err) => {
        this.lastError = err instanceof CohortError && err.code === 'con_lost' ? err.message : undefined;
        // Its schema or tables were dropped under it: made again before the next statement.
        if (TABLES_GONE.has(sqlstateOf(err) ?? '')) this.prepared = false;
      },
    };
    this.users = new PostgresUsers(this.pool, this.schema, this.gate, this.known);
    this.records = new PostgresRecords(this.pool, this.schema, this.gate);
  }

  /** Connects and opens the store, making the schema and its tables if they are missing. */
  static async open(opts: PostgresHomeOptions): Promise<PostgresHome> {
    const home = new PostgresHome(opts);
    try {
      await home.prepare();
    } catch (err) {
      await home.close().catch(() => {});
      throw err;
    }
    return home;
  }

  /**
   * Makes the schema and its tables if they are missing. A node whose PostgreSQL cannot be
   * reached starts anyway: each statement tries this again first, and is con_lost until it works.
   */
  prepare(): Promise<void> {
    if (this.prepared) return Promise.resolve();
    this.preparing ??= this.createTables()
      .then(
        () => {
          this.prepared = true;
          this.lastError = undefined;
        },
        (err: unknown) => {
          this.lastError = (err as Error).message;
          throw err;
        },
      )
      .finally(() => (this.preparing = undefined));
    return this.preparing;
  }

  /** Whether its tables are there and the last statement reached it. */
  status(): { ok: boolean; detail: string } {
    if (!this.prepared) return { ok: false, detail: `PostgreSQL not reached yet${this.lastError ? `: ${this.lastError}` : ''}` };
    return this.lastError ? { ok: false, detail: this.lastError } : { ok: true, detail: 'PostgreSQL' };
  }

  private async createTables(): Promise<void> {
    const schema = this.schema;
    try {
      // "C" collation sorts by the bytes of the encoding: UTF-8's, as SQLite's BINARY does.
      const { rows } = await this.pool.query<{ server_encoding: string }>('SHOW server_encoding');
      if (rows[0].server_encoding !== 'UTF8') throw new CohortError('internal', `PostgreSQL: the database's encoding is ${rows[0].server_encoding}; a home needs UTF8`);
      await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await this.pool.query(`
        CREATE TABLE IF NOT EXISTS ${schema}.users (
          domain text NOT NULL, name text NOT NULL, password text NOT NULL, created bigint NOT NULL,
          PRIMARY KEY (domain, name));
        CREATE TABLE IF NOT EXISTS ${schema}.records (
          domain text NOT NULL, "user" text NOT NULL, ns text NOT NULL, key text COLLATE "C" NOT NULL,
          value text NOT NULL, updated bigint NOT NULL,
          PRIMARY KEY (domain, "user", ns, key));
        CREATE TABLE IF NOT EXISTS ${schema}.history (
          domain text NOT NULL, "user" text NOT NULL, ns text NOT NULL, seq bigint NOT NULL,
          at bigint NOT NULL, data text NOT NULL,
          PRIMARY KEY (domain, "user", ns, seq));
        CREATE TABLE IF NOT EXISTS ${schema}.history_last (
          domain text NOT NULL, "user" text NOT NULL, ns text NOT NULL, seq bigint NOT NULL,
          PRIMARY KEY (domain, "user", ns));
        CREATE TABLE IF NOT EXISTS ${schema}.applied (
          sender text NOT NULL, mid text NOT NULL, result text, applied_at bigint NOT NULL,
          PRIMARY KEY (sender, mid));
        CREATE INDEX IF NOT EXISTS applied_at ON ${schema}.applied (applied_at);
      `);
    } catch (err) {
      throw asCohortError(err);
    }
  }

  async write<T>(work: () => T | Promise<T>): Promise<T> {
    return work();
  }

  /**
   * Runs `work` in one transaction: each once() inside it applies its message in a savepoint
   * (one refused for good rolls back alone), and all commit together when `work` ends; a
   * failure of the connection or of the commit rejects, and then nothing of it is known applied.
   */
  batch<T>(work: () => Promise<T>): Promise<T> {
    return this.inTransaction(async (client) => {
      const batch = { client, turn: Promise.resolve() as Promise<unknown>, closed: false };
      try {
        return await this.tx.run(batch, work);
      } finally {
        // Every once() it started has ended before the connection goes back; a later one is refused.
        batch.closed = true;
        await batch.turn;
      }
    });
  }

  once(sender: string, mid: string, work: (tx: Tx) => Promise<unknown>): Promise<unknown> {
    const batch = this.tx.getStore();
    if (!batch) return this.inTransaction((client) => this.claimAndApply(client, sender, mid, work));
    if (batch.closed) return Promise.reject(new CohortError('internal', 'once() called after its batch ended'));
    // One savepoint at a time on the batch's connection, in the order they were called.
    const turn = batch.turn.then(() => this.inSavepoint(batch.client, sender, mid, work));
    batch.turn = turn.catch(() => {});
    return turn;
  }

  private async inSavepoint(client: pg.PoolClient, sender: string, mid: string, work: (tx: Tx) => Promise<unknown>): Promise<unknown> {
    try {
      return await this.claimAndApply(client, sender, mid, work, true);
    } catch (err) {
      // Undone and let go, so the next message's savepoint is not nested in it. If that fails, so
      // does the batch: nothing of it is kept.
      await client.query('ROLLBACK TO SAVEPOINT once; RELEASE SAVEPOINT once').catch((e: unknown) => Promise.reject(asCohortError(e, true)));
      throw asCohortError(err);
    }
  }

  /**
   * The message's id, then (the first time only) its work and its result, on `client` (in a
   * transaction; in a savepoint of its own when `savepoint`). The statements around the work go
   * as one round trip each (simple protocol, values as escaped literals): a batch's messages
   * take their turns on one connection, so round trips are what its rate is made of.
   */
  private async claimAndApply(client: pg.PoolClient, sender: string, mid: string, work: (tx: Tx) => Promise<unknown>, savepoint = false): Promise<unknown> {
    const lit = (v: string) => client.escapeLiteral(v);
    // A second delivery of the same id waits here for the first's transaction, then gets its row
    // (locked by the no-op update, so a prune cannot take it between the two).
    const claim = `INSERT INTO ${this.schema}.applied AS a (sender, mid, applied_at) VALUES (${lit(sender)}, ${lit(mid)}, ${Date.now()})
       ON CONFLICT (sender, mid) DO UPDATE SET applied_at = a.applied_at RETURNING (xmax = 0) AS fresh, result`;
    const claimed = await client.query<{ fresh: boolean; result: string | null }>(savepoint ? `SAVEPOINT once; ${claim}` : claim);
    const { rows } = (Array.isArray(claimed) ? claimed.at(-1) : claimed) as pg.QueryResult<{ fresh: boolean; result: string | null }>;
    if (!rows[0].fresh) {
      if (savepoint) await client.query('RELEASE SAVEPOINT once');
      return JSON.parse(rows[0].result ?? 'null');
    }
    const result = (await work({ users: new PostgresUsers(client, this.schema, IN_TRANSACTION, this.known), records: new PostgresRecords(client, this.schema, IN_TRANSACTION) })) ?? null;
    await client.query(`UPDATE ${this.schema}.applied SET result = ${lit(JSON.stringify(result))} WHERE sender = ${lit(sender)} AND mid = ${lit(mid)}${savepoint ? '; RELEASE SAVEPOINT once' : ''}`);
    return result;
  }

  /** `work` between BEGIN and COMMIT on a client of its own; its errors as the network's. */
  private async inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.prepare();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      const mapped = asCohortError(err);
      this.gate.answered(mapped);
      throw mapped;
    }
    let broken: Error | undefined;
    // A checked-out client's connection error is emitted on it, not on the pool: unheard, it would end the process. The query in flight rejects too.
    const heard = (err: Error) => (broken = err);
    client.on('error', heard);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      // A transaction that failed inside answers COMMIT with a ROLLBACK: nothing of it was kept.
      const end = await client.query('COMMIT');
      if (end.command !== 'COMMIT') throw new CohortError('con_lost', `PostgreSQL rolled the transaction back (${end.command})`);
      this.gate.answered();
      return result;
    } catch (err) {
      const mapped = asCohortError(err, broken !== undefined);
      // After a failure of the server or the connection (a timeout mid-statement, an unknown commit) its state is not known: not reused.
      if (mapped instanceof CohortError && mapped.code === 'con_lost') broken ??= mapped;
      if (!broken) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      this.gate.answered(mapped);
      throw mapped;
    } finally {
      client.off('error', heard);
      client.release(broken);
    }
  }

  /** In chunks, each well within the statement timeout, however many ids a busy day left. */
  async pruneApplied(before: number): Promise<number> {
    await this.prepare();
    const CHUNK = 10_000;
    let pruned = 0;
    for (;;) {
      const { rowCount } = await this.pool
        .query(`DELETE FROM ${this.schema}.applied WHERE ctid IN (SELECT ctid FROM ${this.schema}.applied WHERE applied_at < $1 LIMIT ${CHUNK})`, [before])
        .catch((err: unknown) => Promise.reject(asCohortError(err)));
      pruned += rowCount ?? 0;
      if ((rowCount ?? 0) < CHUNK) return pruned;
    }
  }

  /** Asks PostgreSQL something cheap, so that status() says how it is while nothing else runs. */
  async probe(): Promise<void> {
    try {
      await this.prepare();
      await this.pool.query('SELECT 1');
      this.gate.answered();
    } catch (err) {
      this.gate.answered(asCohortError(err));
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
