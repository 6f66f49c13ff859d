// What the express-session and @fastify/session stores share: id checks, expiry (idle and
// absolute), the size bound, and the per-key diff that keeps two concurrent requests of one
// session from undoing each other's writes. The framework adapters only translate callbacks.
import { MAX_SESSION_BYTES, newSessionId, SESSION_ID, type SessionPatch, type SessionRecord } from './sessions.ts';
import { CohortError } from '../errors.ts';
import { RecentMap } from '../recent-map.ts';

/** The part of a CohortClient the stores use (client.sessions). */
export interface SessionsLike {
  get(id: string): Promise<SessionRecord | null>;
  write(id: string, patch: SessionPatch): Promise<void>;
  touch(id: string, expires: number): Promise<void>;
  destroy(id: string): Promise<void>;
}

export interface CohortStoreOptions {
  /** A CohortClient, or anything with `.sessions`. */
  client: { sessions: SessionsLike };
  /** The node this app process runs on: new sessions live there first (genid). Default: $COHORT_NODE. */
  node?: string;
  /** Idle lifetime of a session whose cookie has no expiry. Default: 1 day. */
  ttlMs?: number;
  /** Absolute lifetime: a session older than this is gone, however active. Default: 0 (none). */
  absoluteMs?: number;
  /** How many sessions' last-read values are remembered for diffing. Default: 10,000. */
  remember?: number;
  /**
   * A touch that would move a session's expiry by less than this is not sent (connect-mongo's
   * `touchAfter`): express-session touches after every request, also one that just saved. An
   * idle session may then end up to this much before its cookie. Default: 60 s; 0 sends all.
   */
  touchAfterMs?: number;
}

/** The key that carries a session's creation time (ms epoch), for absolute expiry. Apps leave it alone. */
export const CREATED_KEY = '__created';
export const DEFAULT_TTL_MS = 86_400_000;

/** A session as it was read: each top-level key's JSON. */
export type Base = ReadonlyMap<string, string>;

/**
 * For frameworks that give the store no way to tell requests apart (@fastify/session): the
 * read's id rides in the session object itself, so each save diffs against its own request's
 * read. Removed before anything is stored.
 */
export const READ_KEY = '__cohortRead';

export class SessionCore {
  private readonly sessions: SessionsLike;
  private readonly nodeId: string | undefined;
  private readonly ttlMs: number;
  private readonly absoluteMs: number;
  private readonly touchAfterMs: number;
  /** Last-read bases by session id. */
  private readonly bases: RecentMap<string, Base>;
  /** Bases by read id (READ_KEY). */
  private readonly reads: RecentMap<string, Base>;
  /** The expiry each session last had here (read or written): touches that barely move it are skipped. */
  private readonly expiries: RecentMap<string, number>;
  private readCounter = 0;

  constructor(opts: CohortStoreOptions) {
    if (!opts?.client?.sessions) throw new TypeError('a Cohort session store needs { client } with client.sessions (a CohortClient)');
    this.sessions = opts.client.sessions;
    this.nodeId = opts.node ?? process.env.COHORT_NODE;
    this.ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
    this.absoluteMs = opts.absoluteMs ?? 0;
    const remember = opts.remember ?? 10_000;
    this.touchAfterMs = opts.touchAfterMs ?? 60_000;
    this.bases = new RecentMap(remember);
    this.reads = new RecentMap(remember);
    this.expiries = new RecentMap(remember);
  }

  /** A new session id that places the session on this app's node first. */
  readonly genid = (): string => {
    if (!this.nodeId) throw new TypeError('genid needs the node: pass { node } or set COHORT_NODE');
    return newSessionId(this.nodeId);
  };

  /** The session's data, or null when there is none (unknown, expired, destroyed, past its absolute age). `tagRead`: put READ_KEY in it. */
  async load(id: string, tagRead = false): Promise<{ data: Record<string, unknown>; base: Base } | null> {
    checkId(id);
    const rec = await this.sessions.get(id);
    if (!rec) {
      this.forget(id);
      return null;
    }
    if (this.pastAbsolute(rec.data[CREATED_KEY], Date.now())) {
      await this.destroy(id);
      return null;
    }
    const base = new Map<string, string>();
    for (const [k, v] of Object.entries(rec.data)) if (v !== undefined) base.set(k, JSON.stringify(v));
    this.bases.set(id, base);
    this.expiries.set(id, rec.expires);
    if (tagRead) {
      const readId = `${process.pid}.${++this.readCounter}`;
      this.reads.set(readId, base);
      return { data: { ...rec.data, [READ_KEY]: readId }, base };
    }
    return { data: rec.data, base };
  }

  /**
   * Writes `sess` (a framework's session object). With a base (what this request read, or else
   * the last read of this id), only the keys that changed or disappeared since are sent, so
   * concurrent requests writing different keys both keep their writes; without, the whole
   * session replaces what is stored.
   */
  async save(id: string, sess: object, base?: Base): Promise<void> {
    checkId(id);
    const now = Date.now();
    const json = JSON.stringify(sess);
    const data = JSON.parse(json) as Record<string, unknown>;
    const readId = data[READ_KEY];
    delete data[READ_KEY];
    if (typeof readId === 'string') {
      base ??= this.reads.get(readId);
      this.reads.delete(readId);
    }
    if (Buffer.byteLength(json) + 32 > MAX_SESSION_BYTES) {
      throw new CohortError('too_large', `session ${id} is ${Buffer.byteLength(json)} bytes of JSON; the limit is ${MAX_SESSION_BYTES}`);
    }
    base ??= this.bases.get(id);
    if (typeof data[CREATED_KEY] !== 'number') {
      const known = base?.get(CREATED_KEY);
      data[CREATED_KEY] = known ? (JSON.parse(known) as number) : now;
    }
    const expires = this.expiresFor(data, now);
    if (expires <= now) return this.destroy(id);
    this.expiries.delete(id); // unknown until the write is done: a touch meanwhile is sent
    if (!base) return this.wrote(id, expires, this.sessions.write(id, { set: data, expires, replace: true }));
    const set: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(data)) if (base.get(k) !== JSON.stringify(v)) set[k] = v;
    const unset = [...base.keys()].filter((k) => !(k in data));
    const patch: SessionPatch = { expires };
    if (Object.keys(set).length) patch.set = set;
    if (unset.length) patch.unset = unset;
    return this.wrote(id, expires, this.sessions.write(id, patch));
  }

  /** Pushes the session's expiry forward (capped by its absolute age). */
  async touch(id: string, sess: object | undefined): Promise<void> {
    checkId(id);
    const now = Date.now();
    const data = (sess ? JSON.parse(JSON.stringify(sess)) : {}) as Record<string, unknown>;
    delete data[READ_KEY];
    if (typeof data[CREATED_KEY] !== 'number') {
      const known = this.bases.get(id)?.get(CREATED_KEY);
      if (known) data[CREATED_KEY] = JSON.parse(known);
    }
    const expires = this.expiresFor(data, now);
    if (expires <= now) return this.destroy(id);
    const known = this.expiries.get(id);
    // Skipped only while the stored expiry is still touchAfterMs away: a short-lived session is always touched.
    if (known !== undefined && expires >= known && expires - known < this.touchAfterMs && known - now >= this.touchAfterMs) return;
    this.expiries.delete(id);
    return this.wrote(id, expires, this.sessions.touch(id, expires));
  }

  async destroy(id: string): Promise<void> {
    checkId(id);
    this.forget(id);
    return this.sessions.destroy(id);
  }

  /** Once `write` is done, the session's expiry is known to be `expires`. */
  private async wrote(id: string, expires: number, write: Promise<void>): Promise<void> {
    await write;
    this.expiries.set(id, expires);
  }

  private forget(id: string): void {
    this.bases.delete(id);
    this.expiries.delete(id);
  }

  /** The cookie's expiry if it has one (both frameworks keep it in `cookie.expires`), else now + ttl; never past the absolute age. */
  private expiresFor(data: Record<string, unknown>, now: number): number {
    const cookieExpires = (data.cookie as { expires?: unknown } | undefined)?.expires;
    const fromCookie = typeof cookieExpires === 'string' || typeof cookieExpires === 'number' ? new Date(cookieExpires).getTime() : NaN;
    let expires = Number.isFinite(fromCookie) ? fromCookie : now + this.ttlMs;
    const created = data[CREATED_KEY];
    if (this.absoluteMs > 0 && typeof created === 'number') expires = Math.min(expires, created + this.absoluteMs);
    return expires;
  }

  private pastAbsolute(created: unknown, now: number): boolean {
    return this.absoluteMs > 0 && typeof created === 'number' && created + this.absoluteMs <= now;
  }
}

/** A session id the network would refuse, refused here first with the same code. */
export function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !SESSION_ID.test(id)) {
    throw new CohortError('bad_args', `malformed session id ${JSON.stringify(String(id).slice(0, 40))}: expected ${SESSION_ID}`);
  }
}

/** Runs `op` and hands its outcome to a node-style callback; errors never escape as throws. */
export function toCallback<T>(op: () => Promise<T>, cb: ((err: unknown, value?: T) => void) | undefined): void {
  let p: Promise<T>;
  try {
    p = op();
  } catch (err) {
    p = Promise.reject(err);
  }
  p.then((v) => cb?.(null, v), (err) => cb?.(err));
}
