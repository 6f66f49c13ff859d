import { z } from 'zod';
import type { Logger } from 'pino';
import type { CommandContext, CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import type { DomainPolicy } from './domain-policy.ts';
import { password, recordArgs, userRef } from './names.ts';
import { dummyHash, hashPassword, verifyPassword } from './password.ts';
import type { FailureLimiter } from './rate-limit.ts';
import type { RecordStore } from './record-store.ts';
import type { UserStore } from './user-store.ts';

export interface HomeDeps {
  self: string;
  table: HostTable;
  users: UserStore;
  records: RecordStore;
  policy: DomainPolicy;
  limiter: FailureLimiter;
  log: Logger;
}


/**
 * Commands a user's home node runs on her records (seed 000's lond side). Each checks the
 * domain policy and that she lives here. Writes are synchronous, so they can arrive as
 * critical messages and commit with their message id.
 */
export function registerHomeCommands(registry: CommandRegistry, deps: HomeDeps): void {
  const { users, records, policy } = deps;
  const selfEntry = deps.table.nodes.find((n) => n.id === deps.self)!;

  const resident = (args: { domain: string; user: string }, ctx: CommandContext, what: string) => {
    policy.check(ctx.from, args.domain, what);
    if (!users.exists(args.domain, args.user)) throw new CohortError('no_such_user', `${args.user}@${args.domain} does not live on ${deps.self}`);
  };

  registry.register({
    name: 'rec.put',
    summary: "set keys in a namespace of a user's records (on her home node)",
    args: recordArgs.put,
    scope: 'any',
    critical: true,
    run: (a, ctx) => {
      resident(a, ctx, 'rec.put');
      return { stored: records.put(a.domain, a.user, a.ns, a.values) };
    },
  });
  registry.register({
    name: 'rec.get',
    summary: "read keys from a namespace of a user's records",
    args: recordArgs.get,
    scope: 'any',
    run: (a, ctx) => {
      resident(a, ctx, 'rec.get');
      return { values: records.get(a.domain, a.user, a.ns, a.keys) };
    },
  });
  registry.register({
    name: 'rec.del',
    summary: "delete keys from a namespace of a user's records",
    args: recordArgs.del,
    scope: 'any',
    critical: true,
    run: (a, ctx) => {
      resident(a, ctx, 'rec.del');
      return { deleted: records.del(a.domain, a.user, a.ns, a.keys) };
    },
  });
  registry.register({
    name: 'rec.keys',
    summary: 'list the keys of a namespace',
    args: recordArgs.keys,
    scope: 'any',
    run: (a, ctx) => {
      resident(a, ctx, 'rec.keys');
      return { keys: records.keys(a.domain, a.user, a.ns) };
    },
  });
  registry.register({
    name: 'rec.dump',
    summary: "every namespace of a user's records (or one)",
    args: recordArgs.dump,
    scope: 'any',
    run: (a, ctx) => {
      resident(a, ctx, 'rec.dump');
      return { records: records.dump(a.domain, a.user, a.ns) };
    },
  });
  registry.register({
    name: 'rec.store',
    summary: "append a transaction to a namespace's history (a submission)",
    args: recordArgs.store,
    scope: 'any',
    critical: true,
    run: (a, ctx) => {
      resident(a, ctx, 'rec.store');
      return { seq: records.store(a.domain, a.user, a.ns, a.data) };
    },
  });
  registry.register({
    name: 'rec.restore',
    summary: "read a namespace's history after a sequence number",
    args: recordArgs.restore,
    scope: 'any',
    run: (a, ctx) => {
      resident(a, ctx, 'rec.restore');
      return { history: records.restore(a.domain, a.user, a.ns, a.after, a.limit) };
    },
  });
  registry.register({
    name: 'home.query',
    summary: 'is this node the home of the user? (asked of the library nodes of her domain)',
    args: z.strictObject(userRef),
    scope: 'any',
    run: (a, ctx) => {
      policy.check(ctx.from, a.domain, 'home.query');
      return { home: users.exists(a.domain, a.user) };
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
      const created = users.create(a.domain, a.user, await hashPassword(a.password));
      if (!created) throw new CohortError('refused', `${a.user}@${a.domain} exists already`);
      deps.log.info({ event: 'user_created', domain: a.domain, user: a.user }, `user ${a.user}@${a.domain} created`);
      return { created: true, home: deps.self };
    },
  });
  registry.register({
    name: 'auth.check',
    summary: "check a user's password on her home node (rate-limited per user)",
    args: z.strictObject({ ...userRef, password }),
    scope: 'any',
    run: async (a, ctx) => {
      policy.check(ctx.from, a.domain, 'auth.check');
      const key = `${a.domain}/${a.user}`;
      const wait = deps.limiter.retryAfter(key);
      if (wait > 0) throw new CohortError('rate_limited', `too many failed logins; try again in ${Math.ceil(wait / 1000)} s`);
      // A user who does not exist costs the same check, and fails the same way.
      const stored = users.passwordHash(a.domain, a.user);
      const ok = await verifyPassword(a.password, stored ?? (await dummyHash()));
      if (!ok || !stored) {
        deps.limiter.fail(key);
        deps.log.warn({ event: 'login_failed', domain: a.domain, user: a.user, from: ctx.from }, 'login failed');
        throw new CohortError('refused', 'bad user name or password');
      }
      deps.limiter.succeed(key);
      return { ok: true, home: deps.self };
    },
  });
}
