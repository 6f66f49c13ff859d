import { CohortError } from '../errors.ts';

// A session as its copies keep it: each top-level key carries the time of its last write
// (`at`), and a newer write of a key wins wherever it arrives first (per-key last writer
// wins). A replace clears every key older than it; a destroy ends the session for good (ids
// are never reused). Copies converge whatever order writes reach them in, so a copy that was
// down is brought up to date by merging, and two copies' answers merge the same way.

/** `at` values: microseconds of the writing node's hybrid clock (StampClock). */
export type Stamp = number;

type Field = [Stamp, unknown] | [Stamp];

export interface SessionState {
  /** key → [at, value], or [at] for a key removed at that time. */
  fields: Record<string, Field>;
  expires: number;
  expiresAt: Stamp;
  /** Keys written at or before this are gone (a writer replaced the whole session). */
  clearedAt: Stamp;
  /** Destroyed at this time (0: live): no write changes it any more. */
  destroyedAt: Stamp;
}

export interface SessionWrite {
  at: Stamp;
  set?: Record<string, unknown>;
  unset?: string[];
  /** Every key older than this write and not in `set` is removed. */
  replace?: boolean;
  expires?: number;
  destroy?: boolean;
}

/**
 * The key that marks a logged-in session (any value but null or false; set it at login): only
 * such sessions count toward their node's user load, so anonymous visitors cannot fill it.
 */
export const LOGIN_KEY = '__login';

/** JSON of a session's live data past this is refused (a write by an app; never a merge of copies). */
export const MAX_SESSION_BYTES = 65_536;

export const EMPTY: SessionState = Object.freeze({ fields: Object.freeze({}) as Record<string, Field>, expires: 0, expiresAt: 0, clearedAt: 0, destroyedAt: 0 });

/** `state` with an app's write applied; throws too_large (and changes nothing) past MAX_SESSION_BYTES. */
export function applyWrite(state: SessionState, w: SessionWrite): SessionState {
  const patch: SessionState = { fields: nullObject(), expires: w.expires ?? 0, expiresAt: w.expires === undefined ? 0 : w.at, clearedAt: w.replace ? w.at : 0, destroyedAt: w.destroy ? w.at : 0 };
  for (const [k, v] of Object.entries(w.set ?? {})) patch.fields[k] = [w.at, v];
  for (const k of w.unset ?? []) if (!Object.hasOwn(patch.fields, k)) patch.fields[k] = [w.at];
  // A replace keeps what it sets: those keys carry its own stamp, so they are newer than clearedAt - 1.
  if (w.replace) patch.clearedAt = w.at - 1;
  const next = dropOldTombstones(mergeStates(state, patch));
  const bytes = liveBytes(next);
  if (bytes > MAX_SESSION_BYTES && bytes > liveBytes(state)) throw new CohortError('too_large', `the session would take ${bytes} bytes; the limit is ${MAX_SESSION_BYTES}`);
  return next;
}

/** Two copies' states as one, in one pass: each key, the expiry, the clear and the destroy at their newest. Never throws. */
export function mergeStates(a: SessionState, b: SessionState): SessionState {
  const destroyedAt = Math.max(a.destroyedAt, b.destroyedAt);
  const clearedAt = Math.max(a.clearedAt, b.clearedAt);
  const fields = nullObject();
  if (destroyedAt === 0) {
    for (const src of [a.fields, b.fields]) {
      for (const k of Object.keys(src)) {
        const f = src[k];
        if (f[0] <= clearedAt) continue;
        const cur = fields[k];
        if (!cur || f[0] > cur[0] || (f[0] === cur[0] && tieWins(f, cur))) fields[k] = f;
      }
    }
  }
  const expiry = b.expiresAt > a.expiresAt || (b.expiresAt === a.expiresAt && b.expires > a.expires) ? b : a;
  return { fields, expires: expiry.expires, expiresAt: expiry.expiresAt, clearedAt, destroyedAt };
}

/**
 * Two nodes wrote one key at the same stamp: the larger JSON wins (Cassandra's rule for
 * timestamp ties), so every copy keeps the same value whatever order the writes came in.
 */
function tieWins(f: Field, cur: Field): boolean {
  return JSON.stringify(f) > JSON.stringify(cur);
}

/** The newest stamp anywhere in a state. */
export function newestStamp(state: SessionState): Stamp {
  let newest = Math.max(state.expiresAt, state.clearedAt, state.destroyedAt);
  for (const k of Object.keys(state.fields)) newest = Math.max(newest, state.fields[k][0]);
  return newest;
}

/** What an app sees: the live keys and the expiry, or null (none, destroyed, or expired). */
export function visible(state: SessionState, now: number): { data: Record<string, unknown>; expires: number } | null {
  if (state.destroyedAt > 0 || state.expires <= now) return null;
  const data: Record<string, unknown> = {};
  let any = false;
  for (const k of Object.keys(state.fields)) {
    const f = state.fields[k];
    if (f.length !== 2) continue;
    Object.defineProperty(data, k, { value: f[1], enumerable: true, writable: true, configurable: true });
    any = true;
  }
  return any ? { data, expires: state.expires } : null;
}

/** Size of the live data (removed keys are not counted: they cost a stamp, and are dropped by a replace). */
function liveBytes(state: SessionState): number {
  let n = 2;
  for (const k of Object.keys(state.fields)) {
    const f = state.fields[k];
    if (f.length === 2) n += Buffer.byteLength(JSON.stringify(k)) + Buffer.byteLength(JSON.stringify(f[1]) ?? 'null') + 2;
  }
  return n;
}

/** Removed keys kept per session (each guards against an older write of its key arriving late); the oldest go first. */
const MAX_TOMBSTONES = 1000;

export function dropOldTombstones(state: SessionState): SessionState {
  const tombs = Object.keys(state.fields).filter((k) => state.fields[k].length === 1);
  if (tombs.length <= MAX_TOMBSTONES) return state;
  tombs.sort((x, y) => state.fields[x][0] - state.fields[y][0]);
  for (const k of tombs.slice(0, tombs.length - MAX_TOMBSTONES)) delete state.fields[k];
  return state;
}

function nullObject(): Record<string, Field> {
  return Object.create(null) as Record<string, Field>;
}
