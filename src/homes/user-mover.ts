import { z } from 'zod';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import { recordsInPostgres } from '../config/schema.ts';
import { CohortError, errorText } from '../errors.ts';
import type { BackupGate } from '../critical/inbox.ts';
import type { DomainPolicy } from '../records/domain-policy.ts';
import { userRef } from '../records/names.ts';
import type { HomeStore, UserMoves } from '../records/stores/home-store.ts';
import { homeEntrySchema, type HomeEntry } from './home-log.ts';
import type { HomeFence } from './terms/home-term.ts';

type Call = (to: string, cmd: string, args: unknown) => Promise<unknown>;

/** How often a home finishes the moves it began (its new home was away, or this node stopped in between). */
const RESUME_MS = 2000;

const nodeId = z.string().min(1).max(32);
/** What a new home takes: her rows as entries, her user row first, every one of hers. */
const adoptArgs = z.strictObject({ ...userRef, from: nodeId, entries: z.array(homeEntrySchema).min(1).max(1_000_000) });

export interface MoverDeps {
  self: string;
  table: HostTable;
  store: HomeStore;
  lease: HomeFence;
  backup: BackupGate;
  call: Call;
  policy: DomainPolicy;
  /** Resources she published here (they stay where they are published: her move would leave them behind). */
  hasPublished: (domain: string, user: string) => boolean;
  maxFrameBytes: number;
  log: Logger;
}

/**
 * Moves a user to another library node of her domain (`cohort user move`, issue 28) without
 * losing a write: her writes wait here from the moment she is marked leaving (each is answered
 * con_lost, so its sender keeps it and sends it again); her rows are copied to the new home,
 * which takes them once; then, in one transaction, her rows go here and she is marked gone.
 * From then on a write for her here is answered `moved`, and its sender sends it on to the new
 * home in the order the replies came. Each mark goes to this home's backup with the rest of its
 * log. A move that could not finish (the new home away, this node stopped) is finished by a
 * timer here, since her writes wait until it is.
 */
export class UserMover {
  private readonly deps: MoverDeps;
  private readonly finishing = new Map<string, Promise<number>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(registry: CommandRegistry, deps: MoverDeps) {
    this.deps = deps;
    registry.register({
      name: 'home.user.move',
      summary: 'move a user whose home is this node to another library node of her domain (her writes wait while her rows are copied)',
      args: z.strictObject({ ...userRef, to: nodeId }),
      scope: 'operator',
      run: (a, ctx) => {
        deps.policy.check(ctx.from, a.domain, 'home.user.move');
        return this.move(a.domain, a.user, a.to);
      },
    });
    registry.register({
      name: 'user.adopt',
      summary: 'take a user moving here from another library node of her domain, with her rows',
      args: adoptArgs,
      scope: 'peers',
      run: (a, ctx) => this.adopt(a, ctx.from),
    });
  }

  start(): void {
    if (!this.deps.store.moves) return;
    this.timer = setInterval(() => this.resume(), RESUME_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private moves(what: string): UserMoves {
    const moves = this.deps.store.moves;
    if (!moves) throw new CohortError('refused', `${this.deps.self}'s users are in PostgreSQL: ${what} is not done there (its users do not move)`);
    return moves;
  }

  private async move(domain: string, user: string, to: string): Promise<{ moved: true; from: string; to: string; rows: number }> {
    const { self, table, store, lease, backup } = this.deps;
    const moves = this.moves('a move');
    const target = table.nodes.find((n) => n.id === to);
    if (!target || target.role !== 'library' || target.domain !== domain || to === self) {
      const others = table.nodes.filter((n) => n.role === 'library' && n.domain === domain && n.id !== self).map((n) => n.id);
      throw new CohortError('bad_args', `she moves to another library node of domain '${domain}' (${others.join(', ') || 'none'}), not '${to}'`);
    }
    if (recordsInPostgres(target)) throw new CohortError('refused', `${to}'s users are in PostgreSQL: users do not move there`);
    await lease.leased('user.move');
    const mark = moves.marks.mark(domain, user);
    if (mark?.state === 'gone') throw new CohortError('refused', `${user}@${domain} lives on ${mark.to} already (moved from ${self})`);
    if (mark && mark.to !== to) throw new CohortError('refused', `${user}@${domain} is moving to ${mark.to} already`);
    if (!mark) {
      if (!(await store.users.exists(domain, user))) throw new CohortError('no_such_user', `${user}@${domain} does not live on ${self}`);
      if (this.deps.hasPublished(domain, user)) throw new CohortError('refused', `${user}@${domain} has published resources on ${self}, which do not move with her: she stays`);
      await store.write(() => {
        lease.fence('user.move');
        if (moves.marks.mark(domain, user)) throw new CohortError('refused', `${user}@${domain} is moving already`);
        // Measured in the transaction that marks her: no write of hers comes after it.
        const bytes = Buffer.byteLength(JSON.stringify(moves.entries(domain, user)));
        if (bytes > this.maxBytes) throw new CohortError('too_large', `${user}@${domain}'s records are ${bytes} bytes, more than one message to her new home carries (${this.maxBytes}): she stays`);
        moves.apply([['moved', domain, user, to, 'leaving', Date.now()]]);
      });
      await backup.settled();
      this.deps.log.info({ event: 'user_moving', domain, user, to }, `${user}@${domain} is moving to ${to}: her writes wait here until she is there`);
    }
    const rows = await this.finish(domain, user, to).catch((err: unknown) => {
      if (err instanceof CohortError && err.code !== 'con_lost') throw err; // refused for good: she stays (finish() took the mark back)
      throw new CohortError('con_lost', `${user}@${domain} is marked moving to ${to}, but ${to} has not taken her yet (${errorText(err)}): her writes wait, and ${self} finishes the move by itself once ${to} takes her`);
    });
    return { moved: true, from: self, to, rows };
  }

  /** The new home takes her rows (once), then her rows go here and she is marked gone. */
  private finish(domain: string, user: string, to: string): Promise<number> {
    const key = `${domain}/${user}`;
    let running = this.finishing.get(key);
    if (!running) {
      running = this.finishNow(domain, user, to).finally(() => this.finishing.delete(key));
      this.finishing.set(key, running);
    }
    return running;
  }

  private async finishNow(domain: string, user: string, to: string): Promise<number> {
    const { self, store, lease, backup, log } = this.deps;
    const moves = this.moves('a move');
    // Her writes wait while she is leaving: what is read now is all of her.
    const entries = moves.entries(domain, user);
    try {
      if (entries.length) await this.deps.call(to, 'user.adopt', { domain, user, from: self, entries });
    } catch (err) {
      // Refused for good (not a new home that cannot be reached, or cannot answer yet): she stays here, her writes taken again.
      if (err instanceof CohortError && err.code !== 'con_lost') await this.stay(domain, user, to, err);
      throw err;
    }
    await store.write(() => {
      lease.fence('user.move');
      const mark = moves.marks.mark(domain, user);
      if (mark?.state === 'leaving' && mark.to === to) moves.apply([['moved', domain, user, to, 'gone', Date.now()]]);
    });
    await backup.settled();
    log.info({ event: 'user_moved', domain, user, to, rows: entries.length }, `${user}@${domain} moved to ${to} (${entries.length} rows)`);
    return entries.length;
  }

  /** A move the new home refused for good: the mark goes, and her writes are taken here again. */
  private async stay(domain: string, user: string, to: string, why: CohortError): Promise<void> {
    const { store, lease, backup, log } = this.deps;
    const moves = this.moves('a move');
    await store.write(() => {
      lease.fence('user.move');
      const mark = moves.marks.mark(domain, user);
      if (mark?.state === 'leaving' && mark.to === to) moves.apply([['moved', domain, user, this.deps.self, 'here', Date.now()]]);
    });
    await backup.settled();
    log.warn({ event: 'user_move_refused', domain, user, to, err: errorText(why) }, `${to} refused ${user}@${domain} (${errorText(why)}): she stays on ${this.deps.self}`);
  }

  private resume(): void {
    const moves = this.deps.store.moves!;
    for (const m of moves.marks.leaving()) {
      if (this.finishing.has(`${m.domain}/${m.user}`)) continue;
      this.finish(m.domain, m.user, m.to).catch((err: unknown) =>
        this.deps.log.warn({ event: 'user_move_waits', domain: m.domain, user: m.user, to: m.to, err: errorText(err) }, `${m.user}@${m.domain}'s move to ${m.to} waits: ${errorText(err)}`),
      );
    }
  }

  /**
   * A user moving here: her rows are set and logged for this home's backup, in one transaction;
   * taken once (she exists here already: an earlier try of the same move got here, and writes
   * may have come to her here since). The names of a domain are one user each, so a user of that
   * name here can only be her.
   */
  private async adopt(a: z.output<typeof adoptArgs>, from: string): Promise<{ adopted: boolean }> {
    const { self, table, store, lease, backup } = this.deps;
    this.deps.policy.check(from, a.domain, 'user.adopt');
    const moves = this.moves('taking a user');
    const sender = table.nodes.find((n) => n.id === from);
    const here = table.nodes.find((n) => n.id === self);
    if (from !== a.from || sender?.role !== 'library' || sender.domain !== a.domain || here?.role !== 'library' || here.domain !== a.domain) {
      throw new CohortError('refused', `${from} cannot move a user of domain '${a.domain}' to ${self}`);
    }
    const entries = a.entries as HomeEntry[];
    const first = entries[0];
    const stray = entries.find((e) => (e[0] !== 'user' && e[0] !== 'put' && e[0] !== 'history') || e[1] !== a.domain || e[2] !== a.user);
    if (first[0] !== 'user' || stray) throw new CohortError('bad_args', `user.adopt carries her user row first, then her records and history, nothing else`);
    // A name is one user of the domain: none of its other library nodes may hold her (a peer's word that she is its to give is checked).
    const others = table.nodes.filter((n) => n.role === 'library' && n.domain === a.domain && n.id !== self && n.id !== from).map((n) => n.id);
    const answers = await Promise.all(others.map((id) => this.deps.call(id, 'home.query', { domain: a.domain, user: a.user })));
    const holder = others.find((_id, i) => (answers[i] as { home?: unknown }).home === true);
    if (holder) throw new CohortError('refused', `${a.user}@${a.domain} lives on ${holder}, not on ${from}`);
    await lease.leased('user.adopt');
    const adopted = await store.write(() => {
      lease.fence('user.adopt');
      if (store.users.exists(a.domain, a.user) === true) return false;
      moves.apply(moves.marks.mark(a.domain, a.user) ? [...entries, ['moved', a.domain, a.user, self, 'here', Date.now()]] : entries);
      return true;
    });
    await backup.settled();
    if (adopted) this.deps.log.info({ event: 'user_adopted', domain: a.domain, user: a.user, from, rows: entries.length }, `${a.user}@${a.domain} moved here from ${from} (${entries.length} rows)`);
    return { adopted };
  }

  /** A user's rows travel in one message: a quarter of a frame leaves room for JSON's escapes. */
  private get maxBytes(): number {
    return Math.floor(this.deps.maxFrameBytes / 4);
  }
}
