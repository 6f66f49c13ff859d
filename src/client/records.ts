import type { CriticalResult } from './critical-result.ts';
import type { HistoryEntry } from '../records/stores/home-store.ts';

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

/** Where a login's session goes: this node (token null), or another with a hand-over token. */
export interface LoginPlace {
  node: string;
  home: string;
  token: string | null;
  /** With a token: the nonce the browser that logged in must keep (a cookie: handover-cookie.ts) and show at take-up. */
  nonce: string | null;
  /** The node's publicUrl (clients that reach nodes directly), or null. */
  url: string | null;
  why: string;
}

export class AuthApi {
  private readonly call: LocalCall;

  constructor(call: LocalCall) {
    this.call = call;
  }

  /** Resolves when the password is right; rejects with refused (wrong name or password) or rate_limited. */
  login(who: UserRef, password: string): Promise<{ ok: true; home: string; copy?: string }> {
    return this.call('auth.login', { ...who, password }) as Promise<{ ok: true; home: string; copy?: string }>;
  }

  /**
   * Load-aware login (seed 000): checks the password, then says where her session goes. `node`
   * is this node while it is under 100%; else a spare (or, all access nodes over 100%, a library
   * node), with a single-use `token` the app sends her on with (`/login/handover?cohort_handover=<token>`,
   * HANDOVER_PATH, through the front, which routes it to that node's app) and a `nonce` it sets
   * as her cookie (handover-cookie.ts); there `takeHandover(token, nonce)` says who she is,
   * without her password again. `url` is the node's publicUrl, when clients reach nodes directly.
   */
  placeLogin(who: UserRef, password: string, data: Record<string, unknown> = {}): Promise<LoginPlace> {
    return this.call('login.place', { ...who, password, data }) as Promise<LoginPlace>;
  }

  /**
   * Takes up a login handed over to this node, with the nonce the browser showed (its cookie):
   * good once, for load.handoverTtlS, and only with the nonce placeLogin gave; refused otherwise.
   */
  takeHandover(token: string, nonce: string): Promise<UserRef & { data: Record<string, unknown> }> {
    return this.call('login.handover.take', { token, nonce }) as Promise<UserRef & { data: Record<string, unknown> }>;
  }

  /** Creates her on her home library node; refused if she exists in the domain already. */
  addUser(who: UserRef, home: string, password: string): Promise<{ created: true; home: string }> {
    return this.call('user.add', { ...who, home, password }) as Promise<{ created: true; home: string }>;
  }

  /**
   * Sets her password on her home (operator processes only): refused (con_lost) while her home's
   * backup is out of step, so the old password never works on either copy once this resolves.
   */
  resetPassword(who: UserRef, password: string): Promise<{ changed: true; home: string }> {
    return this.call('user.password', { ...who, password }) as Promise<{ changed: true; home: string }>;
  }

  /**
   * A user changes her own password: her current one is checked at her home as a login is
   * (rate_limited alike), then the new one is set on her home and its backup, or on neither
   * (con_lost while either cannot be reached: try again). Once it resolves, the old password
   * works on neither copy.
   */
  changePassword(who: UserRef, current: string, next: string): Promise<{ changed: true; home: string }> {
    return this.call('auth.password.change', { ...who, password: current, newPassword: next }) as Promise<{ changed: true; home: string }>;
  }

  /**
   * Moves her to another library node of her domain (operator processes only): her records are
   * copied there and her home switched; her writes wait meanwhile and none is lost. con_lost when
   * the new home did not take her yet: the move then finishes by itself once it does.
   */
  moveUser(who: UserRef, to: string): Promise<{ moved: true; from: string; to: string; rows: number }> {
    return this.call('user.move', { ...who, to }) as Promise<{ moved: true; from: string; to: string; rows: number }>;
  }

  async home(who: UserRef): Promise<string> {
    return ((await this.call('home.find', who)) as { home: string }).home;
  }
}
