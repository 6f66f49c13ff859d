import { randomBytes } from 'node:crypto';

export { SESSION_ID } from '../sessions/commands.ts';
export { LOGIN_KEY, MAX_SESSION_BYTES } from '../sessions/session-state.ts';

export interface SessionRecord {
  data: Record<string, unknown>;
  /** ms epoch. */
  expires: number;
}

export interface SessionPatch {
  set?: Record<string, unknown>;
  unset?: string[];
  /** ms epoch; without it a write keeps the session a day from now. */
  expires?: number;
  /** Every stored key not in `set` is removed. */
  replace?: boolean;
}

/** Runs a command on the node the app is connected to. */
type LocalCall = (cmd: string, args: unknown) => Promise<unknown>;

/** A new session id that makes `node` the session's first copy (its own app instances read it there). */
export function newSessionId(node: string): string {
  return `${node}~${randomBytes(24).toString('base64url')}`;
}

/**
 * Sessions, from any node (docs/sessions.md): two copies, each key's newest write wins.
 * Errors: bad_args (a malformed id or patch), too_large (over MAX_SESSION_BYTES), con_lost
 * (neither copy reachable).
 */
export class SessionsApi {
  private readonly call: LocalCall;

  constructor(call: LocalCall) {
    this.call = call;
  }

  /** null: no such session, or destroyed, or expired. */
  get(id: string): Promise<SessionRecord | null> {
    return this.call('sessions.get', { id }) as Promise<SessionRecord | null>;
  }

  async write(id: string, patch: SessionPatch): Promise<void> {
    await this.call('sessions.write', { id, ...patch });
  }

  async touch(id: string, expires: number): Promise<void> {
    await this.call('sessions.touch', { id, expires });
  }

  async destroy(id: string): Promise<void> {
    await this.call('sessions.destroy', { id });
  }
}
