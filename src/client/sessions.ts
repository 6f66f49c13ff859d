// STUB of the lead's contract (src/client/sessions.ts on main), so the session adapters can be
// built and type-checked before the node side lands. On merging main, main's file replaces this.
import { randomBytes } from 'node:crypto';

export interface SessionRecord { data: Record<string, unknown>; expires: number }
export interface SessionPatch { set?: Record<string, unknown>; unset?: string[]; expires?: number; replace?: boolean }

export interface SessionsApi {
  get(id: string): Promise<SessionRecord | null>;
  write(id: string, patch: SessionPatch): Promise<void>;
  touch(id: string, expires: number): Promise<void>;
  destroy(id: string): Promise<void>;
}

export function newSessionId(node: string): string {
  return `${node}~${randomBytes(24).toString('base64url')}`;
}

export const SESSION_ID = /^[A-Za-z0-9_.~-]{16,160}$/;
export const MAX_SESSION_BYTES = 65_536;
