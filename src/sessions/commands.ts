import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import { CohortError, toReplyError } from '../errors.ts';
import { MAX_BATCH } from './apply-batches.ts';
import type { SessionCopies } from './copies.ts';
import { MAX_SESSION_BYTES, newestStamp, type SessionState, type SessionWrite, type Stamp } from './session-state.ts';
import { sessionKey, sessionStateSchema, stampSchema, tooFarAhead } from './state-schema.ts';
import type { SessionStore } from './session-store.ts';

/** Session ids: what newSessionId makes, and what express-session and @fastify/session make. */
export const SESSION_ID = /^[A-Za-z0-9_.~-]{16,160}$/;
/** A write that gives no expiry keeps the session this long from now. */
const DEFAULT_TTL_MS = 86_400_000;

const id = z.string().regex(SESSION_ID, 'a session id is 16-160 letters, digits, _ . ~ -');
const patchFields = {
  set: z.record(sessionKey, z.unknown()).optional(),
  unset: z.array(sessionKey).max(10_000).optional(),
  replace: z.boolean().optional(),
  expires: z.number().int().min(0).optional(),
};
const applyArgs = z.strictObject({ writes: z.array(z.strictObject({ id, at: stampSchema.min(1), ...patchFields, destroy: z.boolean().optional() })).min(1).max(MAX_BATCH) });

export interface SessionDeps {
  store: SessionStore;
  copies: SessionCopies;
  /** Stamps for this node's writes. */
  clock: StampClock;
}

/**
 * Sessions any app instance on any node can read and write (issue 13): `sessions.*` for the
 * apps on this node, `session.apply` / `session.read` / `session.merge` between the copies.
 */
export function registerSessionCommands(registry: CommandRegistry, deps: SessionDeps): void {
  const { store, copies } = deps;
  const clock = deps.clock.next;

  registry.register({
    name: 'session.apply',
    summary: "apply writes to this node's copies of sessions (each key: the newest write wins), each with its own outcome; peers only",
    args: applyArgs,
    scope: 'peers',
    // Each write its own outcome: one refused write does not refuse the others of its batch.
    run: async (a) => {
      const outcomes = await Promise.all(a.writes.map(async ({ id: sid, ...w }) => {
        try {
          // A stamp far ahead would fix a key against every later write.
          if (tooFarAhead(w.at)) throw new CohortError('refused', 'a session write stamped more than a minute ahead of this node\'s clock');
          await store.commit(sid, w);
          return null;
        } catch (err) {
          return toReplyError(err);
        }
      }));
      return { outcomes };
    },
  });
  registry.register({
    name: 'session.read',
    summary: "this node's copy of a session, with the time of each key's last write; peers only",
    args: z.strictObject({ id }),
    scope: 'peers',
    run: (a) => {
      return store.state(a.id);
    },
  });
  registry.register({
    name: 'session.merge',
    summary: "merge another copy's state into this node's (a copy catching up on writes it missed); peers only",
    args: z.strictObject({ id, state: sessionStateSchema }),
    scope: 'peers',
    run: (a) => {
      if (tooFarAhead(newestStamp(a.state as SessionState))) throw new CohortError('refused', 'a session state stamped more than a minute ahead of this node\'s clock');
      store.merge(a.id, a.state as SessionState);
      return { ok: true };
    },
  });

  registry.register({
    name: 'sessions.get',
    summary: 'a session (its data and expiry), or null: from its first copy if that is this node, else from both copies merged',
    args: z.strictObject({ id }),
    scope: 'local',
    run: (a) => copies.read(a.id),
  });
  const write = async (sid: string, w: SessionWrite) => {
    if (w.set && Buffer.byteLength(JSON.stringify(w.set)) > MAX_SESSION_BYTES) throw new CohortError('too_large', `the session's data is over ${MAX_SESSION_BYTES} bytes`);
    await copies.write(sid, w);
    return { ok: true };
  };
  registry.register({
    name: 'sessions.write',
    summary: 'write a session: set and unset keys (each key: the newest write wins), expiry; to both of its copies',
    args: z.strictObject({ id, ...patchFields }),
    scope: 'local',
    run: (a) => {
      const { id: sid, ...patch } = a;
      return write(sid, { ...patch, at: clock(), expires: patch.expires ?? Date.now() + DEFAULT_TTL_MS });
    },
  });
  registry.register({
    name: 'sessions.owed',
    summary: 'session copies on other nodes this node still owes writes (their node was down, or a host table moved the copy there)',
    args: z.strictObject({}),
    scope: 'operator',
    run: () => ({ owed: store.missedCount() }),
  });
  registry.register({
    name: 'sessions.touch',
    summary: "move a session's expiry",
    args: z.strictObject({ id, expires: z.number().int().min(0) }),
    scope: 'local',
    run: (a) => write(a.id, { at: clock(), expires: a.expires }),
  });
  registry.register({
    name: 'sessions.destroy',
    summary: 'end a session on both copies',
    args: z.strictObject({ id }),
    scope: 'local',
    run: (a) => write(a.id, { at: clock(), destroy: true }),
  });
}

/**
 * Stamps for this node's writes: microseconds, always growing (one more than the last when
 * several fall in one microsecond, so the clock runs ahead of real time only past a million
 * writes a second). A hybrid clock: it also moves past every stamp it has seen (observe), so a
 * write that follows a read is stamped after what it read, even if this node's clock is behind
 * the writer's. Two nodes may write the same stamp: mergeStates breaks such ties by value.
 */
export class StampClock {
  private last = 0;

  readonly next = (): Stamp => {
    this.last = Math.max(Date.now() * 1000, this.last + 1);
    return this.last;
  };

  /** A stamp seen in a session; one further ahead than MAX_AHEAD_MS (a broken clock) is not followed. */
  readonly observe = (seen: Stamp): void => {
    if (seen > this.last && !tooFarAhead(seen)) this.last = seen;
  };
}
