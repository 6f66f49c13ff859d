import type { HomeEntry } from '../../homes/home-log.ts';
import type { MovedUsers } from './moved-users.ts';

/** A value now (SQLite, in the caller's transaction) or later (PostgreSQL, over a connection). */
export type Maybe<T> = T | Promise<T>;

/** One entry of a namespace's history (a stored submission). */
export interface HistoryEntry {
  seq: number;
  at: number;
  data: unknown;
}

/** The users whose home this is, with their password hashes (UserStore, PostgresHome). */
export interface HomeUsers {
  /** False when she exists already. */
  create(domain: string, name: string, passwordHash: string): Maybe<boolean>;
  /** False when she does not live here. */
  setPassword(domain: string, name: string, passwordHash: string): Maybe<boolean>;
  passwordHash(domain: string, name: string): Maybe<string | undefined>;
  exists(domain: string, name: string): Maybe<boolean>;
  /** Every user, by domain then name. */
  list(): Maybe<{ domain: string; name: string; created: number }[]>;
}

/** Her records: keyed values per namespace, and per namespace an append-only history (RecordStore, PostgresHome). */
export interface HomeRecords {
  /** How many keys were set. */
  put(domain: string, user: string, ns: string, values: Record<string, unknown>): Maybe<number>;
  /** The keys that are set, with their values; missing keys are left out. */
  get(domain: string, user: string, ns: string, keys: string[]): Maybe<Record<string, unknown>>;
  /** How many of the keys were there. */
  del(domain: string, user: string, ns: string, keys: string[]): Maybe<number>;
  /** In byte order of their UTF-8 (SQLite's BINARY, PostgreSQL's "C"). */
  keys(domain: string, user: string, ns: string): Maybe<string[]>;
  /** Every namespace (or one) as { ns: { key: value } }. */
  dump(domain: string, user: string, ns?: string): Maybe<Record<string, Record<string, unknown>>>;
  /** Appends to the namespace's history: its sequence number, 1 then one more each time. */
  store(domain: string, user: string, ns: string, data: unknown): Maybe<number>;
  /** History entries after `after`, oldest first, at most `limit`. */
  restore(domain: string, user: string, ns: string, after: number, limit: number): Maybe<HistoryEntry[]>;
}

/** What moving a user between homes needs of a store (`cohort user move`, issue 28): SQLite's only, for now. */
export interface UserMoves {
  readonly marks: MovedUsers;
  /** Her user row, records and history, as the entries that set them. */
  entries(domain: string, user: string): HomeEntry[];
  /** Sets rows as the entries say, each logged for the home's backup: inside a write(). */
  apply(entries: HomeEntry[]): void;
}

/**
 * Where a home library node keeps its users and their records (issue 27's "one interface"):
 * the node's own SQLite file, copied to its backup by the home's log; or a PostgreSQL
 * database, which keeps its own standby (the node then has no backup of its own).
 */
export interface HomeStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly users: HomeUsers;
  readonly records: HomeRecords;
  /** Users moving away or moved (SQLite only: a PostgreSQL home's users do not move). */
  readonly moves?: UserMoves;
  /** A write that did not come as a critical message: SQLite's group commit (rows and log entries together), PostgreSQL's own statement. */
  write<T>(work: () => Maybe<T>): Promise<T>;
  /**
   * Only a store that applies critical messages itself (PostgreSQL): `work` runs in one
   * transaction with the record of (sender, mid), and reads and writes through `tx` (in it); a
   * message applied before is answered with its first result and not run again. Without it, the node's critical inbox does this (SQLite).
   */
  once?(sender: string, mid: string, work: (tx: { users: HomeUsers; records: HomeRecords }) => Promise<unknown>): Promise<unknown>;
  /** With once: runs `work`, whose once() calls share one transaction (each in a savepoint), committed when it ends. */
  batch?<T>(work: () => Promise<T>): Promise<T>;
  /** Forgets message ids applied before `before` (ms since the epoch), as the inbox is pruned. */
  pruneApplied?(before: number): Promise<number>;
  /** Makes what it needs (PostgreSQL's tables); rejects while it cannot be reached. */
  prepare(): Promise<void>;
  /** Whether it can be used, in a few words. */
  status(): { ok: boolean; detail: string };
  /** A store on another server: asks it something cheap, so that status() is fresh while nothing else runs. */
  probe?(): Promise<void>;
  close(): Promise<void>;
}

/** `f` of a value now or later: now when it is now (SQLite's callers stay inside their transaction). Not named `then`: a module exporting that is a thenable. */
export function mapMaybe<T, U>(value: Maybe<T>, f: (v: T) => U): Maybe<U> | Promise<U> {
  return value instanceof Promise ? value.then(f) : f(value);
}
