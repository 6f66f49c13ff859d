// An in-memory stand-in for client.sessions (the lead's SessionsApi contract), for testing the
// framework adapters without a node: per-key last-writer-wins, expiry, destroy, size and id checks.
import { MAX_SESSION_BYTES, SESSION_ID, type SessionPatch, type SessionRecord } from '../../src/client/sessions.ts';
import { CohortError } from '../../src/errors.ts';

interface Stored { fields: Map<string, { value: unknown; at: number }>; expires: number }

export class FakeSessions {
  readonly sessions = new Map<string, Stored>();
  readonly writes: { id: string; patch: SessionPatch }[] = [];
  private clock = 0;

  private check(id: string): void {
    if (!SESSION_ID.test(id)) throw new CohortError('bad_args', `malformed session id`);
  }

  async get(id: string): Promise<SessionRecord | null> {
    this.check(id);
    const s = this.sessions.get(id);
    if (!s || s.expires <= Date.now()) return null;
    const data: Record<string, unknown> = {};
    for (const [k, f] of s.fields) data[k] = structuredClone(f.value);
    return { data, expires: s.expires };
  }

  async write(id: string, patch: SessionPatch): Promise<void> {
    this.check(id);
    this.writes.push({ id, patch: structuredClone(patch) });
    const at = ++this.clock;
    const old = this.sessions.get(id);
    const s: Stored = old && old.expires > Date.now() ? { fields: new Map(old.fields), expires: old.expires } : { fields: new Map(), expires: 0 };
    if (patch.replace) for (const k of s.fields.keys()) if (!(patch.set && k in patch.set)) s.fields.delete(k);
    for (const [k, v] of Object.entries(patch.set ?? {})) s.fields.set(k, { value: structuredClone(v), at });
    for (const k of patch.unset ?? []) s.fields.delete(k);
    if (patch.expires !== undefined) s.expires = patch.expires;
    const size = Buffer.byteLength(JSON.stringify(Object.fromEntries([...s.fields].map(([k, f]) => [k, f.value]))));
    if (size > MAX_SESSION_BYTES) throw new CohortError('too_large', `session of ${size} bytes`);
    this.sessions.set(id, s);
  }

  async touch(id: string, expires: number): Promise<void> {
    this.check(id);
    const s = this.sessions.get(id);
    if (s && s.expires > Date.now()) s.expires = expires;
  }

  async destroy(id: string): Promise<void> {
    this.check(id);
    this.sessions.delete(id);
  }
}
