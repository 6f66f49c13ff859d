import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import { asCohortError } from './postgres-errors.ts';
import type { HistoryEntry, HomeRecords, HomeUsers } from './home-store.ts';

/** A pool or one of its clients in a transaction: what the statements run on. */
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** What a statement needs of its store: its tables made first, and to hear whether PostgreSQL answered. */
export interface StoreGate {
  ready(): Promise<void>;
  answered(err?: Error): void;
}

/** A gate for statements inside a transaction the store already opened. */
export const IN_TRANSACTION: StoreGate = { ready: async () => {}, answered: () => {} };

/** A statement once the tables are there, its failures as the network's errors. */
async function run<R extends pg.QueryResultRow>(db: Queryable, gate: StoreGate, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  await gate.ready();
  try {
    const result = await db.query<R>(text, values);
    gate.answered();
    return result;
  } catch (err) {
    const mapped = asCohortError(err);
    gate.answered(mapped);
    throw mapped;
  }
}

/**
 * Users known to live here, so that each record operation does not ask PostgreSQL first: a home
 * never removes a user, so a yes stays true (a minute at most, in case an operator removed one
 * by hand); a no is always asked again. Bounded: the least recently used go first.
 */
export function knownUsers(): LRUCache<string, true> {
  return new LRUCache<string, true>({ max: 100_000, ttl: 60_000 });
}

/** The users' rows of a home in PostgreSQL (the conformance suite holds them to the SQLite store's answers). */
export class PostgresUsers implements HomeUsers {
  private readonly db: Queryable;
  private readonly t: string;
  private readonly gate: StoreGate;
  private readonly known: LRUCache<string, true>;

  constructor(db: Queryable, schema: string, gate: StoreGate, known: LRUCache<string, true>) {
    this.db = db;
    this.t = `${schema}.users`;
    this.gate = gate;
    this.known = known;
  }

  async create(domain: string, name: string, passwordHash: string): Promise<boolean> {
    const r = await run(this.db, this.gate, `INSERT INTO ${this.t} (domain, name, password, created) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, [domain, name, passwordHash, Date.now()]);
    if (r.rowCount === 1) this.known.set(`${domain}\0${name}`, true);
    return r.rowCount === 1;
  }

  async setPassword(domain: string, name: string, passwordHash: string): Promise<boolean> {
    const r = await run(this.db, this.gate, `UPDATE ${this.t} SET password = $3 WHERE domain = $1 AND name = $2`, [domain, name, passwordHash]);
    return r.rowCount === 1;
  }

  async passwordHash(domain: string, name: string): Promise<string | undefined> {
    const { rows } = await run<{ password: string }>(this.db, this.gate, `SELECT password FROM ${this.t} WHERE domain = $1 AND name = $2`, [domain, name]);
    return rows[0]?.password;
  }

  async exists(domain: string, name: string): Promise<boolean> {
    const key = `${domain}\0${name}`;
    if (this.known.get(key)) return true;
    const here = (await this.passwordHash(domain, name)) !== undefined;
    if (here) this.known.set(key, true);
    return here;
  }

  async list(): Promise<{ domain: string; name: string; created: number }[]> {
    const { rows } = await run<{ domain: string; name: string; created: string }>(this.db, this.gate, `SELECT domain, name, created FROM ${this.t} ORDER BY domain COLLATE "C", name COLLATE "C"`, []);
    return rows.map((r) => ({ domain: r.domain, name: r.name, created: Number(r.created) }));
  }
}

/** Her records and history in PostgreSQL. */
export class PostgresRecords implements HomeRecords {
  private readonly db: Queryable;
  private readonly schema: string;
  private readonly gate: StoreGate;

  constructor(db: Queryable, schema: string, gate: StoreGate) {
    this.db = db;
    this.schema = schema;
    this.gate = gate;
  }

  async put(domain: string, user: string, ns: string, values: Record<string, unknown>): Promise<number> {
    const keys = Object.keys(values);
    if (keys.length === 0) return 0;
    // One statement for every key: atomic without a transaction of its own.
    await run(this.db, this.gate, `INSERT INTO ${this.schema}.records (domain, "user", ns, key, value, updated)
      SELECT $1, $2, $3, k, v, $6 FROM unnest($4::text[], $5::text[]) AS kv(k, v)
      ON CONFLICT (domain, "user", ns, key) DO UPDATE SET value = excluded.value, updated = excluded.updated`, [domain, user, ns, keys, keys.map((k) => JSON.stringify(values[k])), Date.now()]);
    return keys.length;
  }

  async get(domain: string, user: string, ns: string, keys: string[]): Promise<Record<string, unknown>> {
    const { rows } = await run<{ key: string; value: string }>(this.db, this.gate, `SELECT key, value FROM ${this.schema}.records WHERE domain = $1 AND "user" = $2 AND ns = $3 AND key = ANY($4::text[])`, [domain, user, ns, keys]);
    const found = new Map(rows.map((r) => [r.key, r.value]));
    const out: Record<string, unknown> = {};
    // In the order asked, as the SQLite store answers.
    for (const key of keys) if (found.has(key)) out[key] = JSON.parse(found.get(key)!);
    return out;
  }

  async del(domain: string, user: string, ns: string, keys: string[]): Promise<number> {
    const r = await run(this.db, this.gate, `DELETE FROM ${this.schema}.records WHERE domain = $1 AND "user" = $2 AND ns = $3 AND key = ANY($4::text[])`, [domain, user, ns, [...new Set(keys)]]);
    return r.rowCount ?? 0;
  }

  async keys(domain: string, user: string, ns: string): Promise<string[]> {
    const { rows } = await run<{ key: string }>(this.db, this.gate, `SELECT key FROM ${this.schema}.records WHERE domain = $1 AND "user" = $2 AND ns = $3 ORDER BY key`, [domain, user, ns]);
    return rows.map((r) => r.key);
  }

  async dump(domain: string, user: string, ns?: string): Promise<Record<string, Record<string, unknown>>> {
    const { rows } = await run<{ ns: string; key: string; value: string }>(
      this.db,
      this.gate,
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
      this.gate,
      `WITH next AS (
         INSERT INTO ${this.schema}.history_last (domain, "user", ns, seq) VALUES ($1, $2, $3, 1)
         ON CONFLICT (domain, "user", ns) DO UPDATE SET seq = ${this.schema}.history_last.seq + 1 RETURNING seq)
       INSERT INTO ${this.schema}.history (domain, "user", ns, seq, at, data) SELECT $1, $2, $3, seq, $4, $5 FROM next RETURNING seq`,
      [domain, user, ns, Date.now(), JSON.stringify(data)],
    );
    return Number(rows[0].seq);
  }

  async restore(domain: string, user: string, ns: string, after: number, limit: number): Promise<HistoryEntry[]> {
    const { rows } = await run<{ seq: string; at: string; data: string }>(this.db, this.gate, `SELECT seq, at, data FROM ${this.schema}.history WHERE domain = $1 AND "user" = $2 AND ns = $3 AND seq > $4 ORDER BY seq LIMIT $5`, [domain, user, ns, after, limit]);
    return rows.map((r) => ({ seq: Number(r.seq), at: Number(r.at), data: JSON.parse(r.data) }));
  }
}
