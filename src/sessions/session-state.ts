import { CohortError } from '../errors.ts';

// A session as its copies keep it: each top-level key carries the time of its last write
// (`at`), and a newer write of a key wins wherever it arrives first (per-key last writer
// wins). Copies converge whatever order writes reach them in, so a copy that was down is
// brought up to date by the writes queued for it, and two copies' answers merge the same way.

/** `at` values: ms × 1000 + the writing node's index, so two nodes never write the same `at`. */
export type Stamp = number;

export interface SessionState {
  /** key → [at, value], or [at] for a key removed at that time. */
  fields: Record<string, [Stamp, unknown] | [Stamp]>;
  expires: number;
  expiresAt: Stamp;
  /** A destroy wins over every write older than it. */
  destroyedAt: Stamp;
}

export interface SessionWrite {
  at: Stamp;
  set?: Record<string, unknown>;
  unset?: string[];
  /** Every stored key not in `set` is removed (a writer that sends the whole session). */
  replace?: boolean;
  expires?: number;
  destroy?: boolean;
}

/** JSON of a session's fields (tombstones included) past this is refused. */
export const MAX_SESSION_BYTES = 65_536;

export const EMPTY: SessionState = { fields: {}, expires: 0, expiresAt: 0, destroyedAt: 0 };

/** `state` with `w` applied; throws too_large (and changes nothing) past MAX_SESSION_BYTES. */
export function applyWrite(state: SessionState, w: SessionWrite): SessionState {
  const fields = { ...state.fields };
  let destroyedAt = state.destroyedAt;
  if (w.destroy && w.at > destroyedAt) {
    destroyedAt = w.at;
    for (const [k, f] of Object.entries(fields)) if (f[0] < w.at) delete fields[k];
  }
  const put = (k: string, f: [Stamp, unknown] | [Stamp]) => {
    if (f[0] <= destroyedAt) return;
    const cur = fields[k];
    if (!cur || f[0] > cur[0]) fields[k] = f;
  };
  for (const [k, v] of Object.entries(w.set ?? {})) put(k, [w.at, v]);
  for (const k of w.unset ?? []) put(k, [w.at]);
  if (w.replace) for (const k of Object.keys(fields)) if (!(k in (w.set ?? {}))) put(k, [w.at]);
  const newer = w.expires !== undefined && w.at > state.expiresAt;
  const next: SessionState = { fields, expires: newer ? w.expires! : state.expires, expiresAt: newer ? w.at : state.expiresAt, destroyedAt };
  const bytes = Buffer.byteLength(JSON.stringify(fields));
  if (bytes > MAX_SESSION_BYTES) throw new CohortError('too_large', `the session would take ${bytes} bytes; the limit is ${MAX_SESSION_BYTES}`);
  return next;
}

/** Two copies' states as one: each key, the expiry and the destroy at their newest. */
export function mergeStates(a: SessionState, b: SessionState): SessionState {
  let out = applyWrite(a, { at: b.destroyedAt, destroy: b.destroyedAt > 0 });
  for (const [k, f] of Object.entries(b.fields)) out = applyWrite(out, f.length === 2 ? { at: f[0], set: { [k]: f[1] } } : { at: f[0], unset: [k] });
  if (b.expiresAt > out.expiresAt) out = { ...out, expires: b.expires, expiresAt: b.expiresAt };
  return out;
}

/** What an app sees: the live keys and the expiry, or null (none, destroyed, or expired). */
export function visible(state: SessionState, now: number): { data: Record<string, unknown>; expires: number } | null {
  if (state.expires <= now) return null;
  const data: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(state.fields)) if (f.length === 2) data[k] = f[1];
  return Object.keys(data).length ? { data, expires: state.expires } : null;
}
