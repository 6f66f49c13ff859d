import { z } from 'zod';
import { CohortError } from '../errors.ts';
import { newestStamp, type SessionState, type Stamp } from './session-state.ts';

// A session copy's state as it crosses a link (`session.merge`'s argument, `session.read`'s
// answer): parsed like any input, and refused when it is stamped ahead of this node's clock.

export const sessionKey = z.string().min(1).max(256);
export const stampSchema = z.number().int().min(0);

export const sessionStateSchema = z.strictObject({
  // Live keys fit in MAX_SESSION_BYTES, removed ones are kept a thousand at most: more is not a copy's.
  fields: z.record(sessionKey, z.union([z.tuple([stampSchema, z.unknown()]), z.tuple([stampSchema])])).refine((f) => Object.keys(f).length <= 20_000, 'too many keys for a session'),
  expires: z.number().int().min(0),
  expiresAt: stampSchema,
  clearedAt: stampSchema,
  destroyedAt: stampSchema,
});

/** How far ahead of this node's clock a peer's stamp may be. */
const MAX_AHEAD_MS = 60_000;

/** A stamp past it would outrank every later write: refused, and not followed. */
export function tooFarAhead(stamp: Stamp): boolean {
  return stamp > (Date.now() + MAX_AHEAD_MS) * 1000 + 999;
}

/**
 * Another copy's state, checked: its shape, and no stamp more than a minute ahead of this
 * node's clock (newest-wins would keep such a key, clear or destroy against every later write).
 * Throws bad_args or refused, naming `from`.
 */
export function checkedState(raw: unknown, from: string): SessionState {
  const parsed = sessionStateSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CohortError('bad_args', `${from} gave a malformed session state (${issue?.path.join('.') || 'state'}: ${issue?.message})`);
  }
  const state = parsed.data as SessionState;
  if (tooFarAhead(newestStamp(state))) throw new CohortError('refused', `${from} gave a session state stamped more than a minute ahead of this node's clock`);
  return state;
}
