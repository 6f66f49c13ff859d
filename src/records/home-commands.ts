import { z } from 'zod';
import type { Logger } from 'pino';
import type { CommandContext, CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import type { DomainPolicy } from './domain-policy.ts';
import type { Call, CopiesHeld } from './home-lookup.ts';
import type { NameClaims } from './name-claims.ts';
import { password, RECORD_WRITES, recordArgs, userRef, type RecordOp } from './names.ts';
import { checkLogin } from './login-check.ts';
import { readRecords } from './record-reads.ts';
import { dummyHash, hashPassword, verifyPassword } from './password.ts';
import type { FailureLimiter } from './rate-limit.ts';
import type { BackupGate } from '../critical/inbox.ts';
import type { HomeFence } from '../homes/terms/home-term.ts';
import type { TakenOver } from '../homes/terms/taken-over.ts';
import { mapMaybe, type HomeRecords, type HomeStore, type HomeUsers } from './stores/home-store.ts';

export interface HomeDeps {
  self: string;
  table: HostTable;
  /** Her users and records: the node's SQLite file (a write that did not come as a critical message commits in its group commit, rows and log entries together) or PostgreSQL. */
  store: HomeStore;
  claims: NameClaims;
  /** The home's backup (issue 27): a write that changed something is answered once the backup holds it. */
  backup: BackupGate;
  /** The home's lease (issue 27): nothing of her users or records is read or written here unless it holds it (another node may hold her writes). */
  lease: HomeFence;
  /** A user of a home whose writes this node took over (its backup, promoted): a critical write to her goes to that home's copy. */
  takenOver?: (domain: string, user: string) => TakenOver | undefined;
  /** The copies this node keeps of other homes: home.query names them (her home is found while it is down). */
  copies: CopiesHeld;
  /** Commands to the other library nodes of a domain (name claims). */
  call: Call;
  policy: DomainPolicy;
  limiter: FailureLimiter;
  log: Logger;
}


/**
 * Commands a user's home node runs on her records (seed 000's lond side). Each checks the
 * domain policy and that she lives here. Writes arrive as critical messages and commit with
 * their message id: in the inbox's transaction (SQLite, synchronous), or in the store's own
 * (PostgreSQL, which records the id itself).
 */
export function registerHomeCommands(registry: CommandRegistry, deps: HomeDeps): void {
  const { store, claims, policy } = deps;
  const { users } = store;
  const selfEntry = deps.table.nodes.find((n) => n.id === deps.self)!;

  /**
   * Holds the name's claim here and on every other library node of the domain, or throws
   * (refused: taken or being created elsewhere; con_lost: a library node cannot be asked, so
   * uniqueness cannot be checked) after dropping what it claimed.
   */
  const claimEverywhere = async (domain: string, user: string): Promise<void> => {
    if (await users.exists(domain, user)) throw new CohortError('refused', `${user}@${domain} exists already`);
    const holder = claims.claim(domain, user, deps.self);
    if (holder) throw new CohortError('refused', `${user}@${domain} is being created on ${holder}; try again`);
    const others = deps.table.nodes.filter((n) => n.role === 'library' && n.domain === domain && n.id !== deps.self).map((n) => n.id);
    const args = { domain, user, home: deps.self };
    const answers = await Promise.allSettled(others.map((id) => deps.call(id, 'user.claim', args)));
    const failed = answers.flatMap((r, i) => (r.status === 'rejected' ? [{ id: others[i], err: r.reason as Error }] : []));
    if (failed.length === 0) {
      // The user now exists here, which answers every later claim; the remote claims can go.
      for (const id of others) deps.call(id, 'user.unclaim', args).catch(() => {});
      return;
    }
    claims.release(domain, user, deps.self);
    // Every other node, not only those that answered: a claim whose answer came too late (a loaded
    // node) was still made there, and would linger. An unclaim drops only this node's own claim.
    for (const id of others) deps.call(id, 'user.unclaim', args).catch(() => {});
    const refused = failed.find((f) => f.err instanceof CohortError && f.err.code === 'refused');
    if (refused) throw new CohortError('refused', refused.err.message);
    throw new CohortError('con_lost', `cannot check that ${user}@${domain} is unique: ${failed.map((f) => `${f.id}: ${f.err.message}`).join('; ')}`);
  };

  /** Throws 'moved' when she lives on another home now; con_lost for a write while she moves (it waits for her new home). */
  const notMoved = (a: { domain: string; user: string }, write: boolean, what: string): void => store.moves?.marks.check(a.domain, a.user, write, what);

  /**
   * A new password on this home and its backup, or on neither: refused before anything changes
   * while the backup is out of step (issue 27), and answered only once the backup holds it.
   */
  const setPassword = async (domain: string, user: string, newPassword: string): Promise<void> => {
    const hash = await hashPassword(newPassword);
    await deps.lease.leased('a new password');
    await deps.backup.confirmed();
    // She may have begun to move while her password was hashed: checked in the write itself.
    await store.write(() => {
      deps.lease.fence('a new password');
      notMoved({ domain, user }, true, 'a new password');
      return mapMaybe(users.setPassword(domain, user, hash), (set) => {
        if (!set) throw new CohortError('no_such_user', `${user}@${domain} does not live on ${deps.self}`);
      });
    });
    await deps.backup.confirmed();
  };

  /** Throws unless she lives here: at once on SQLite (inside the inbox's transaction), later on PostgreSQL (in `among`, a transaction's). */
  const livesHere = (args: { domain: string; user: string }, among: HomeUsers = users) =>
    mapMaybe(among.exists(args.domain, args.user), (here) => {
      if (!here) throw new CohortError('no_such_user', `${args.user}@${args.domain} does not live on ${deps.self}`);
    });

  type Args<K extends RecordOp> = z.output<(typeof recordArgs)[K]>;
  const operations: { [K in RecordOp]: { summary: string; run: (records: HomeRecords, a: Args<K>) => unknown } } = {
    put: { summary: "set keys in a namespace of a user's records", run: (records, a) => mapMaybe(records.put(a.domain, a.user, a.ns, a.values), (stored) => ({ stored })) },
    get: { summary: "read keys from a namespace of a user's records", run: (records, a) => readRecords(records, 'get', a) },
    del: { summary: "delete keys from a namespace of a user's records", run: (records, a) => mapMaybe(records.del(a.domain, a.user, a.ns, a.keys), (deleted) => ({ deleted })) },
    keys: { summary: 'list the keys of a namespace', run: (records, a) => readRecords(records, 'keys', a) },
    dump: { summary: "every namespace of a user's records (or one)", run: (records, a) => readRecords(records, 'dump', a) },
    store: { summary: "append a transaction to a namespace's history (a submission)", run: (records, a) => mapMaybe(records.store(a.domain, a.user, a.ns, a.data), (seq) => ({ seq })) },
    restore: { summary: "read a namespace's history after a sequence number", run: (records, a) => readRecords(records, 'restore', a) },
  };
  for (const op of Object.keys(operations) as RecordOp[]) {
    const { summary, run } = operations[op] as { summary: string; run: (records: HomeRecords, a: unknown) => unknown };
    const write = RECORD_WRITES.includes(op);
    registry.register({
      name: `rec.${op}`,
      summary: `${summary} (on her home node)`,
      args: recordArgs[op] as z.ZodType<{ domain: string; user: string }>,
      scope: 'any',
      critical: write && (store.once ? 'itself' : true),
      run: (a, ctx) => {
        policy.check(ctx.from, a.domain, `rec.${op}`);
        /** Under the lease, she lives here, then the operation, on the store or on one of its transactions. */
        const checked = (on: { users: HomeUsers; records: HomeRecords }) => (deps.lease.fence(`rec.${op}`), notMoved(a, write, `rec.${op}`), mapMaybe(livesHere(a, on.users), () => run(on.records, a)));
        // PostgreSQL: the id, the check and the effect in one of its transactions.
        if (write && store.once && ctx.mid) return store.once(ctx.from, ctx.mid, async (tx) => checked(tx));
        // A write for a home this node took over: on its copy, its id kept there with its effect (the inbox's own record of it here is not what counts).
        const taken = write && ctx.critical && ctx.mid ? deps.takenOver?.(a.domain, a.user) : undefined;
        if (taken) {
          taken.fence(`rec.${op}`);
          // After its id is looked up: one the home applied before she moved is answered, not sent on.
          return taken.applyOnce(ctx.sender ?? ctx.from, ctx.mid!, () => (taken.moves.check(a.domain, a.user, write, `rec.${op}`), run(taken.records, a)));
        }
        // Another home's lane, whose writes this node does not hold (any more, or yet): not a refusal for good, the sender's lane finds the holder.
        if (ctx.lane !== undefined && ctx.lane !== deps.self) throw new CohortError('con_lost', `${deps.self} does not hold ${ctx.lane}'s writes now: rec.${op} is for whichever of ${ctx.lane} and its backup holds its lease`);
        // SQLite: a write as a critical message is in the inbox's transaction (synchronous), which waits for the backup itself.
        if (ctx.critical || !write) return checked(store);
        const before = deps.backup.appended();
        return store.write(() => checked(store)).then(async (out) => {
          if (deps.backup.appended() !== before) await deps.backup.settled();
          return out;
        });
      },
    });
  }
  registry.register({
    name: 'home.query',
    summary: 'is this node the home of the user? (asked of the library nodes of her domain)',
    args: z.strictObject(userRef),
    scope: 'any',
    run: async (a, ctx) => {
      policy.check(ctx.from, a.domain, 'home.query');
      const here = await users.exists(a.domain, a.user);
      const copyOf = here ? undefined : deps.copies.copyHolding(a.domain, a.user);
      return { home: here, ...(copyOf && { copyOf }) };
    },
  });
  registry.register({
    name: 'user.create',
    summary: 'create a user whose home is this library node',
    args: z.strictObject({ ...userRef, password }),
    scope: 'any',
    run: async (a, ctx) => {
      policy.check(ctx.from, a.domain, 'user.create');
      if (selfEntry.role !== 'library' || selfEntry.domain !== a.domain) {
        throw new CohortError('refused', `${deps.self} is not a library node of domain '${a.domain}'`);
      }
      const hash = await hashPassword(a.password);
      await deps.lease.leased('user.create');
      await claimEverywhere(a.domain, a.user);
      const created = await store.write(() => (deps.lease.fence('user.create'), users.create(a.domain, a.user, hash))).finally(() => claims.release(a.domain, a.user, deps.self));
      if (!created) throw new CohortError('refused', `${a.user}@${a.domain} exists already`);
      await deps.backup.settled(); // her password hash is on the backup too before she is told she exists
      deps.log.info({ event: 'user_created', domain: a.domain, user: a.user }, `user ${a.user}@${a.domain} created`);
      return { created: true, home: deps.self };
    },
  });
  registry.register({
    name: 'user.password.reset',
    summary: "set a new password for a user whose home is this node (operator); only while its backup is in step: the old password must not work on either copy once this is answered",
    args: z.strictObject({ ...userRef, password }),
    scope: 'operator',
    run: async (a, ctx) => {
      policy.check(ctx.from, a.domain, 'user.password.reset');
      notMoved(a, true, 'user.password.reset');
      await livesHere(a);
      await setPassword(a.domain, a.user, a.password);
      deps.log.info({ event: 'user_password_reset', domain: a.domain, user: a.user }, `password of ${a.user}@${a.domain} reset`);
      return { changed: true, home: deps.self };
    },
  });
  registry.register({
    name: 'user.password.change',
    summary: "a user whose home is this node changes her password: her current one is checked as a login is; only while the backup is in step, as a reset",
    args: z.strictObject({ ...userRef, password, newPassword: password }),
    scope: 'any',
    run: async (a, ctx) => {
      policy.check(ctx.from, a.domain, 'user.password.change');
      await deps.lease.leased('user.password.change');
      notMoved(a, true, 'user.password.change');
      const stored = await users.passwordHash(a.domain, a.user);
      try {
        await checkLogin(stored, deps.limiter, a, () => deps.log.warn({ event: 'login_failed', domain: a.domain, user: a.user, from: ctx.from, for: 'password change' }, 'login failed (a password change)'));
      } catch (err) {
        // Sent again after an answer con_lost that came once the new password had committed here
        // (the backup fell out of step before it held it): it is set, and answered once the backup
        // holds it. Checked on every wrong current password (a name nobody holds too), so the
        // time it takes tells nothing.
        const retried = err instanceof CohortError && err.code === 'refused' && (await verifyPassword(a.newPassword, stored ?? (await dummyHash()))) && stored !== undefined;
        if (!retried) throw err;
        await deps.backup.confirmed();
        return { changed: true, home: deps.self };
      }
      await setPassword(a.domain, a.user, a.newPassword);
      deps.log.info({ event: 'user_password_changed', domain: a.domain, user: a.user, from: ctx.from }, `${a.user}@${a.domain} changed her password`);
      return { changed: true, home: deps.self };
    },
  });
  registry.register({
    name: 'user.claim',
    summary: 'a library node of the domain claims a user name it is about to create',
    args: z.strictObject({ ...userRef, home: z.string().min(1) }),
    scope: 'any',
    run: async (a, ctx) => {
      policy.check(ctx.from, a.domain, 'user.claim');
      if (ctx.from !== a.home) throw new CohortError('refused', `${ctx.from} cannot claim a name for ${a.home}`);
      // Without its lease this home's users may be under way from its backup (a restore): it cannot say a name is free.
      deps.lease.fence('user.claim');
      if (await users.exists(a.domain, a.user)) throw new CohortError('refused', `${a.user}@${a.domain} exists already (home ${deps.self})`);
      const holder = claims.claim(a.domain, a.user, a.home);
      if (holder) throw new CohortError('refused', `${a.user}@${a.domain} is being created on ${holder}; try again`);
      return { claimed: true };
    },
  });
  registry.register({
    name: 'user.unclaim',
    summary: 'drops a name claim (its creator gave up, or is done)',
    args: z.strictObject({ ...userRef, home: z.string().min(1) }),
    scope: 'any',
    run: (a, ctx) => {
      if (ctx.from !== a.home) throw new CohortError('refused', `${ctx.from} cannot drop a claim of ${a.home}`);
      claims.release(a.domain, a.user, a.home);
      return { released: true };
    },
  });
  registry.register({
    name: 'auth.check',
    summary: "check a user's password on her home node (rate-limited per user)",
    args: z.strictObject({ ...userRef, password }),
    scope: 'any',
    run: async (a, ctx) => {
      policy.check(ctx.from, a.domain, 'auth.check');
      await deps.lease.leased('auth.check');
      notMoved(a, false, 'auth.check');
      await checkLogin(await users.passwordHash(a.domain, a.user), deps.limiter, a, () => deps.log.warn({ event: 'login_failed', domain: a.domain, user: a.user, from: ctx.from }, 'login failed'));
      return { ok: true, home: deps.self };
    },
  });
}
