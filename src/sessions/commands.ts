import type { Logger } from 'pino';
import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import type { CriticalService } from '../critical/critical-service.ts';
import { CohortError } from '../errors.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { placement } from './placement.ts';
import { MAX_SESSION_BYTES, mergeStates, visible, type SessionState, type SessionWrite, type Stamp } from './session-state.ts';
import type { SessionStore } from './session-store.ts';

/** Session ids: what newSessionId makes, and what express-session and @fastify/session make. */
export const SESSION_ID = /^[A-Za-z0-9_.~-]{16,160}$/;
/** A write that gives no expiry keeps the session this long from now. */
const DEFAULT_TTL_MS = 86_400_000;

const id = z.string().regex(SESSION_ID, 'a session id is 16-160 letters, digits, _ . ~ -');
const key = z.string().min(1).max(256);
const patchFields = {
  set: z.record(key, z.unknown()).optional(),
  unset: z.array(key).max(10_000).optional(),
  replace: z.boolean().optional(),
  expires: z.number().int().min(0).optional(),
};
const applyArgs = z.strictObject({ id, at: z.number().int().min(1), ...patchFields, destroy: z.boolean().optional() });

export interface SessionDeps {
  self: string;
  table: HostTable;
  store: SessionStore;
  commit: GroupCommit;
  critical: CriticalService;
  call: (to: string, cmd: string, args: unknown) => Promise<unknown>;
  log: Logger;
}

/**
 * Sessions any app instance on any node can read and write (issue 13): `sessions.*` for the
 * apps on this node, `session.apply` / `session.read` between the copies.
 */
export function registerSessionCommands(registry: CommandRegistry, deps: SessionDeps): void {
  const { self, table, store } = deps;
  const clock = stampClock(table.nodes.findIndex((n) => n.id === self));

  registry.register({
    name: 'session.apply',
    summary: "apply a write to this node's copy of a session (per-key last writer wins); also as a critical message",
    args: applyArgs,
    scope: 'any',
    critical: true,
    run: (a) => {
      const { id: sid, ...w } = a;
      store.apply(sid, w);
      return { ok: true };
    },
  });
  registry.register({
    name: 'session.read',
    summary: "this node's copy of a session, with the time of each key's last write",
    args: z.strictObject({ id }),
    scope: 'any',
    run: (a) => store.state(a.id),
  });

  /** A write goes to both copies: applied here if this node keeps one, critical messages to the others. */
  const write = async (sid: string, w: SessionWrite): Promise<{ ok: true }> => {
    if (w.set && Buffer.byteLength(JSON.stringify(w.set)) > MAX_SESSION_BYTES) throw new CohortError('too_large', `the session's data is over ${MAX_SESSION_BYTES} bytes`);
    const args = { id: sid, ...w };
    const [first, second] = placement(table, sid);
    if (first === self) {
      // The copy reads go to is this one: the other hears of it in the same transaction, later.
      await (second === undefined ? deps.commit.run(() => store.apply(sid, w)) : deps.critical.alongside(() => store.apply(sid, w), second, 'session.apply', args));
      return { ok: true };
    }
    // The first copy is elsewhere: wait for it (or until it is durably queued here), so a
    // read that follows sees this write.
    const firstDone = deps.critical.send(first, 'session.apply', args);
    const secondDone = second === undefined ? undefined : second === self ? deps.commit.run(() => store.apply(sid, w)) : deps.critical.send(second, 'session.apply', args);
    secondDone?.catch((err: unknown) => deps.log.warn({ event: 'session_copy_failed', node: second, err: (err as Error).message }, 'a session write did not reach its second copy'));
    const outcome = await firstDone;
    if (outcome.status === 'ok') return { ok: true };
    await secondDone; // the first copy is down: the write is durable at the second
    return { ok: true };
  };

  registry.register({
    name: 'sessions.get',
    summary: 'a session (its data and expiry), or null: from its first copy if that is this node, else from both copies merged',
    args: z.strictObject({ id }),
    scope: 'local',
    run: async (a) => {
      const copies = placement(table, a.id);
      if (copies[0] === self) return visible(store.state(a.id), Date.now());
      const answers = await Promise.allSettled(copies.map((n) => (n === self ? Promise.resolve(store.state(a.id)) : (deps.call(n, 'session.read', { id: a.id }) as Promise<SessionState>))));
      const states = answers.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      if (!states.length) throw (answers[0] as PromiseRejectedResult).reason;
      return visible(states.reduce(mergeStates), Date.now());
    },
  });
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

/** Stamps that grow on this node and never equal another node's (its index in the low digits). */
function stampClock(index: number): () => Stamp {
  let last = 0;
  return () => {
    last = Math.max(Date.now() * 1000 + index, last + 1000);
    return last;
  };
}
