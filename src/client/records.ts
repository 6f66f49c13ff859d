import type { CriticalResult } from './client.ts';
import type { HistoryEntry } from '../records/record-store.ts';

/** A user, known by her domain and name. */
export interface UserRef {
  domain: string;
  user: string;
}

/** Runs a command on the node the app is connected to. */
type LocalCall = (cmd: string, args: unknown) => Promise<unknown>;

/**
 * Users' records, from any node: reads go to her home node (con_lost if it is down),
 * writes travel there as critical messages (ok, or delayed until it is back).
 */
export class RecordsApi {
  private readonly call: LocalCall;

  constructor(call: LocalCall) {
    this.call = call;
  }

  put(who: UserRef, ns: string, values: Record<string, unknown>): Promise<CriticalResult> {
    return this.call('records.put', { ...who, ns, values }) as Promise<CriticalResult>;
  }

  async get(who: UserRef, ns: string, keys: string[]): Promise<Record<string, unknown>> {
    return ((await this.call('records.get', { ...who, ns, keys })) as { values: Record<string, unknown> }).values;
  }

  del(who: UserRef, ns: string, keys: string[]): Promise<CriticalResult> {
    return this.call('records.del', { ...who, ns, keys }) as Promise<CriticalResult>;
  }

  async keys(who: UserRef, ns: string): Promise<string[]> {
    return ((await this.call('records.keys', { ...who, ns })) as { keys: string[] }).keys;
  }

  async dump(who: UserRef, ns?: string): Promise<Record<string, Record<string, unknown>>> {
    return ((await this.call('records.dump', { ...who, ...(ns === undefined ? {} : { ns }) })) as { records: Record<string, Record<string, unknown>> }).records;
  }

  /** Appends a transaction (e.g. a submitted answer) to the namespace's history. */
  store(who: UserRef, ns: string, data: unknown): Promise<CriticalResult> {
    return this.call('records.store', { ...who, ns, data }) as Promise<CriticalResult>;
  }

  async restore(who: UserRef, ns: string, after = 0, limit = 1000): Promise<HistoryEntry[]> {
    return ((await this.call('records.restore', { ...who, ns, after, limit })) as { history: HistoryEntry[] }).history;
  }
}

export class AuthApi {
  private readonly call: LocalCall;

  constructor(call: LocalCall) {
    this.call = call;
  }

  /** Resolves when the password is right; rejects with refused (wrong name or password) or rate_limited. */
  login(who: UserRef, password: string): Promise<{ ok: true; home: string }> {
    return this.call('auth.login', { ...who, password }) as Promise<{ ok: true; home: string }>;
  }

  /** Creates her on her home library node; refused if she exists in the domain already. */
  addUser(who: UserRef, home: string, password: string): Promise<{ created: true; home: string }> {
    return this.call('user.add', { ...who, home, password }) as Promise<{ created: true; home: string }>;
  }

  async home(who: UserRef): Promise<string> {
    return ((await this.call('home.find', who)) as { home: string }).home;
  }
}
