import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { CohortError } from '../errors.ts';
import type { HistoryEntry, HomeStore, HomeUsers, HomeRecords } from './home-store.ts';

/** A pool or one of its clients in a transaction: what the statements run on. */
type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** PostgreSQL's error classes that say the server or the connection failed, not the statement: the sender tries again. */
const TRANSIENT_SQLSTATE = /^(08|53|57P|58|40001|40P01)/;
const TRANSIENT_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);

/** PostgreSQL down or failing over is con_lost (nothing applied; a critical message is sent again); anything else is a bug. */
function asCohortError(err: unknown): Error {
  if (err instanceof CohortError) return err;
  const e = err as { code?: string; message?: string };
  const transient = (typeof e.code === 'string' && (TRANSIENT_SQLSTATE.test(e.code) || TRANSIENT_ERRNO.has(e.code))) || /Connection terminated|timeout exceeded when trying to connect/i.test(e.message ?? '');
  return new CohortError(transient ? 'con_lost' : 'internal', `PostgreSQL: ${e.message ?? String(err)}`);
}

export interface PostgresHomeOptions {
  /** postgres://user@host:port/database; a password may come from PGPASSWORD or ~/.pgpass instead of the URL. */
  url: string;
  /** The schema this home's tables live in: several homes may share one database. */
  schema: string;
  /** Connections in the pool (node-postgres' default is 10). */
  maxConnections?: number;
}

/**
 * A home's users and records in PostgreSQL (issue 27, "when a user outgrows this"): the same
 * answers as the SQLite stores (the conformance suite checks both), and critical messages applied
 * once by recording their ids in the same transaction as their effect (`once`). The durability
 * and the standby are PostgreSQL's (synchronous_commit, Patroni's synchronous mode).
 */
export class PostgresHome implements HomeStore {
  readonly kind = 'postgres';
  readonly users: PostgresUsers;
  readonly records: PostgresRecords;
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private prepared = false;
  private preparing: Promise<void> | undefined;
  private lastError: string | undefined;
  /** The batch() this call runs in, if any: its connection, and the end of the once() calls made in it so far. */
  private readonly tx = new AsyncLocalStorage<{ client: pg.PoolClient; turn: Promise<unknown> }>();

  /** The pool is made now; nothing connects until prepare() or the first statement. */
  constructor(opts: PostgresHomeOptions) {
    this.pool = new pg.Pool({ connectionString: opts.url, max: opts.maxConnections ?? 10, connectionTimeoutMillis: 5000, application_name: 'cohort' });
    // An idle client whose server went away emits here; the next statement gets a new one.
    this.pool.on('error', () => {});
    this.schema = pg.escapeIdentifier(opts.schema);
    const ready = () => this.ready();
    this.users = new PostgresUsers(this.pool, this.schema, ready);
    this.records = new PostgresRecords(this.pool, this.schema, ready);
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
    this.preparing ??= this.createTables().then(
      () => {
        this.prepared = true;
        this.lastError = undefined;
      },
      (err: unknown) => {
        this.lastError = (err as Error).message;
        throw err;
      },
    ).finally(() => (this.preparing = undefined));
    return this.preparing;
  }

  /** Whether its tables are there and the last attempt to reach it worked (the node's parts report). */
  status(): { ok: boolean; detail: string } {
    return this.prepared ? { ok: true, detail: 'PostgreSQL' } : { ok: false, detail: `PostgreSQL not reached yet${this.lastError ? `: ${this.lastError}` : ''}` };
  }

  private ready(): Promise<void> {
    return this.prepare();
  }

  private async createTables(): Promise<void> {
    const schema = this.schema;
    try {
      await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      // "C" collation: keys sort by the bytes of their UTF-8, as SQLite's do.
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
      const batch = { client, turn: Promise.resolve() as Promise<unknown> };
      const result = await this.tx.run(batch, work);
      await batch.turn; // every once() it started has ended
      return result;
    });
  }

  once(sender: string, mid: string, work: (tx: { users: PostgresUsers; records: PostgresRecords }) => Promise<unknown>): Promise<unknown> {
    const batch = this.tx.getStore();
    if (!batch) return this.inTransaction((client) => this.applyOnce(client, sender, mid, work));
    // One savepoint at a time on the batch's connection, in the order they were called.
    const turn = batch.turn.then(() => this.inSavepoint(batch.client, sender, mid, work));
    batch.turn = turn.catch(() => {});
    return turn;
  }

  private async inSavepoint(client: pg.PoolClient, sender: string, mid: string, work: (tx: { users: PostgresUsers; records: PostgresRecords }) => Promise<unknown>): Promise<unknown> {
    await client.query('SAVEPOINT once').catch((err: unknown) => Promise.reject(asCohortError(err)));
    try {
      const result = await this.applyOnce(client, sender, mid, work);
      await client.query('RELEASE SAVEPOINT once');
      return result;
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT once').catch(() => {}); // a broken connection fails the batch's commit
      throw asCohortError(err);
    }
  }

  /** The message's id, then (the first time only) its work and its result, on `client` (in a transaction). */
  private async applyOnce(client: pg.PoolClient, sender: string, mid: string, work: (tx: { users: PostgresUsers; records: PostgresRecords }) => Promise<unknown>): Promise<unknown> {
    // A second delivery of the same id waits here for the first's transaction, then finds its row.
    const first = await client.query(`INSERT INTO ${this.schema}.applied (sender, mid, applied_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [sender, mid, Date.now()]);
    if (first.rowCount === 0) {
      const { rows } = await client.query(`SELECT result FROM ${this.schema}.applied WHERE sender = $1 AND mid = $2`, [sender, mid]);
      return JSON.parse((rows[0] as { result: string }).result);
    }
    const inTx = async () => {};
    const result = (await work({ users: new PostgresUsers(client, this.schema, inTx), records: new PostgresRecords(client, this.schema, inTx) })) ?? null;
    await client.query(`UPDATE ${this.schema}.applied SET result = $3 WHERE sender = $1 AND mid = $2`, [sender, mid, JSON.stringify(result)]);
    return result;
  }

  /** `work` between BEGIN and COMMIT on a client of its own; its errors as the network's. */
  private async inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.ready();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw asCohortError(err);
    }
    let broken: Error | undefined;
    // A checked-out client's connection error is emitted on it, not on the pool: unheard, it would end the process. The query in flight rejects too.
    const heard = (err: Error) => (broken = err);
    client.on('error', heard);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw asCohortError(err);
    } finally {
      client.off('error', heard);
      client.release(broken);
    }
  }

  async pruneApplied(before: number): Promise<number> {
    await this.ready();
    const { rowCount } = await this.pool.query(`DELETE FROM ${this.schema}.applied WHERE applied_at < $1`, [before]).catch((err: unknown) => Promise.reject(asCohortError(err)));
    return rowCount ?? 0;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** A statement once the tables are there (`ready`), its failures as the network's errors. */
async function run<R extends pg.QueryResultRow>(db: Queryable, ready: () => Promise<void>, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  await ready();
  try {
    return await db.query<R>(text, values);
  } catch (err) {
    throw asCohortError(err);
  }
}

class PostgresUsers implements HomeUsers {
  private readonly db: Queryable;
  private readonly t: string;
  private readonly ready: () => Promise<void>;

  constructor(db: Queryable, schema: string, ready: () => Promise<void>) {
    this.db = db;
    this.t = `${schema}.users`;
    this.ready = ready;
  }

  async create(domain: string, name: string, passwordHash: string): Promise<boolean> {
    const r = await run(this.db, this.ready, `INSERT INTO ${this.t} (domain, name, password, created) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, [domain, name, passwordHash, Date.now()]);
    return r.rowCount === 1;
  }

  async setPassword(domain: string, name: string, passwordHash: string): Promise<boolean> {
    const r = await run(this.db, this.ready, `UPDATE ${this.t} SET password = $3 WHERE domain = $1 AND name = $2`, [domain, name, passwordHash]);
    return r.rowCount === 1;
  }

  async passwordHash(domain: string, name: string): Promise<string | undefined> {
    const { rows } = await run<{ password: string }>(this.db, this.ready, `SELECT password FROM ${this.t} WHERE domain = $1 AND name = $2`, [domain, name]);
    return rows[0]?.password;
  }

  async exists(domain: string, name: string): Promise<boolean> {
    return (await this.passwordHash(domain, name)) !== undefined;
  }

  async list(): Promise<{ domain: string; name: string; created: number }[]> {
    const { rows } = await run<{ domain: string; name: string; created: string }>(this.db, this.ready, `SELECT domain, name, created FROM ${this.t} ORDER BY domain COLLATE "C", name COLLATE "C"`, []);
    return rows.map((r) => ({ domain: r.domain, name: r.name, created: Number(r.created) }));
  }
}

class PostgresRecords implements HomeRecords {
  private readonly db: Queryable;
  private readonly schema: string;
  private readonly ready: () => Promise<void>;

  constructor(db: Queryable, schema: string, ready: () => Promise<void>) {
    this.db = db;
    this.schema = schema;
    this.ready = ready;
  }

  async put(domain: string, user: string, ns: string, values: Record<string, unknown>): Promise<number> {
    const keys = Object.keys(values);
    if (keys.length === 0) return 0;
    // One statement for every key: atomic without a transaction of its own.
    await run(this.db, this.ready, `INSERT INTO ${this.schema}.records (domain, "user", ns, key, value, updated)
      SELECT $1, $2, $3, k, v, $6 FROM unnest($4::text[], $5::text[]) AS kv(k, v)
      ON CONFLICT (domain, "user", ns, key) DO UPDATE SET value = excluded.value, updated = excluded.updated`, [domain, user, ns, keys, keys.map((k) => JSON.stringify(values[k])), Date.now()]);
    return keys.length;
  }

  async get(domain: string, user: string, ns: string, keys: string[]): Promise<Record<string, unknown>> {
    const { rows } = await run<{ key: string; value: string }>(this.db, this.ready, `SELECT key, value FROM ${this.schema}.records WHERE domain = $1 AND "user" = $2 AND ns = $3 AND key = ANY($4::text[])`, [domain, user, ns, keys]);
    const found = new Map(rows.map((r) => [r.key, r.value]));
    const out: Record<string, unknown> = {};
    // In the order asked, as the SQLite store answers.
    for (const key of keys) if (found.has(key)) out[key] = JSON.parse(found.get(key)!);
    return out;
  }

  async del(domain: string, user: string, ns: string, keys: string[]): Promise<number> {
    const r = await run(this.db, this.ready, `DELETE FROM ${this.schema}.records WHERE domain = $1 AND "user" = $2 AND ns = $3 AND key = ANY($4::text[])`, [domain, user, ns, [...new Set(keys)]]);
    return r.rowCount ?? 0;
  }

  async keys(domain: string, user: string, ns: string): Promise<string[]> {
    const { rows } = await run<{ key: string }>(this.db, this.ready, `SELECT key FROM ${this.schema}.records WHERE domain = $1 AND "user" = $2 AND ns = $3 ORDER BY key`, [domain, user, ns]);
    return rows.map((r) => r.key);
  }

  async dump(domain: string, user: string, ns?: string): Promise<Record<string, Record<string, unknown>>> {
    const { rows } = await run<{ ns: string; key: string; value: string }>(
      this.db,
      this.ready,
      `SELECT ns, key, value FROM ${this.schema}.records WHERE domain = $1 AND "user" = $2 AND ($3::text IS NULL OR ns = $3) ORDER BY ns COLLATE "C", key`,
      [domain, user, ns ?? null],
    );
    const out: Record<string, Record<string, unknown>> = {};
    for (const r of rows) (out[r.ns] ??= {})[r.key] = JSON.parse(r.value);
    return out;
  }

  async store(domain: string, user: string, ns: string, data: unknown): Promise<number> {
    // The counter row's lock orders two stores to one namespace; the CTE makes it one statement.
    const { rows } = await run<{ seq: string }>(
      this.db,
      this.ready,
      `WITH next AS (
         INSERT INTO ${this.schema}.history_last (domain, "user", ns, seq) VALUES ($1, $2, $3, 1)
         ON CONFLICT (domain, "user", ns) DO UPDATE SET seq = ${this.schema}.history_last.seq + 1 RETURNING seq)
       INSERT INTO ${this.schema}.history (domain, "user", ns, seq, at, data) SELECT $1, $2, $3, seq, $4, $5 FROM next RETURNING seq`,
      [domain, user, ns, Date.now(), JSON.stringify(data)],
    );
    return Number(rows[0].seq);
  }

  async restore(domain: string, user: string, ns: string, after: number, limit: number): Promise<HistoryEntry[]> {
    const { rows } = await run<{ seq: string; at: string; data: string }>(this.db, this.ready, `SELECT seq, at, data FROM ${this.schema}.history WHERE domain = $1 AND "user" = $2 AND ns = $3 AND seq > $4 ORDER BY seq LIMIT $5`, [domain, user, ns, after, limit]);
    return rows.map((r) => ({ seq: Number(r.seq), at: Number(r.at), data: JSON.parse(r.data) }));
  }
}
