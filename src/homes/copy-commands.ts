import { z } from 'zod';
import type { Logger } from 'pino';
import type { CommandContext, CommandRegistry } from '../commands/registry.ts';
import { CohortError } from '../errors.ts';
import { withTimeout } from '../timeout.ts';
import type { DomainPolicy } from '../records/domain-policy.ts';
import { checkLogin } from '../records/login-check.ts';
import { password, recordArgs, userRef } from '../records/names.ts';
import { readRecords, RECORD_READS, type RecordRead } from '../records/record-reads.ts';
import type { ReplicaStore } from './replica-store.ts';

/** How long a backup asks the home to check a login before it checks its copy: the home counts failures first when it can. */
export const ASK_HOME_MS = 1000;

const home = z.string().min(1).max(64);
// Each read's own arguments (the same checks as at the home), and the home whose copy is read.
const readArgs = z.discriminatedUnion(
  'op',
  RECORD_READS.map((op) => recordArgs[op].extend({ op: z.literal(op), home })) as unknown as [z.ZodObject<{ op: z.ZodLiteral<RecordRead>; home: typeof home; domain: z.ZodString; user: z.ZodString }>],
);

export type CopyUse = 'read' | 'login';

/**
 * What a backup answers for its home while the access node asking cannot reach it (issue 27):
 * reads of a user's records and logins, from the copy it keeps of the home's users and records.
 * The domain policy holds as at the home; only homes whose copy is kept here are answered. A
 * login asks the home first (it counts failures when it can), then checks the copy, counting
 * the failures the home logged and its own against the same limit.
 */
export function registerCopyCommands(registry: CommandRegistry, deps: { self: string; replicas: Map<string, ReplicaStore>; policy: DomainPolicy; call: (to: string, cmd: string, args: unknown) => Promise<unknown>; answered: (home: string, use: CopyUse) => void; log: Logger }): void {
  const copyOf = (a: { home: string; domain: string; user: string }, ctx: CommandContext, what: string): ReplicaStore => {
    deps.policy.check(ctx.from, a.domain, what);
    const replica = deps.replicas.get(a.home);
    if (!replica) throw new CohortError('refused', `${deps.self} keeps no copy of ${a.home}'s users`);
    if (!replica.whole()) throw new CohortError('con_lost', `${deps.self}'s copy of ${a.home} is being made (a snapshot under way): it cannot answer for ${a.home} yet`);
    return replica;
  };

  registry.register({
    name: 'home.copy.read',
    summary: "read a user's records from this backup's copy of her home (asked when her home cannot be reached)",
    args: readArgs,
    scope: 'any',
    run: (a, ctx) => {
      const { op, home: of, ...args } = a as { op: RecordRead; home: string; domain: string; user: string };
      const replica = copyOf(a, ctx, `home.copy.read ${op}`);
      if (!replica.users.exists(args.domain, args.user)) throw new CohortError('no_such_user', `${args.user}@${args.domain} is not in ${deps.self}'s copy of ${of}`);
      deps.answered(of, 'read');
      return readRecords(replica.records, op, args);
    },
  });

  registry.register({
    name: 'home.copy.auth',
    summary: "check a user's password at this backup of her home (asked when her home cannot be reached; the home is asked first)",
    args: z.strictObject({ home, ...userRef, password }),
    scope: 'any',
    run: async (a, ctx) => {
      const replica = copyOf(a, ctx, 'home.copy.auth');
      const login = { domain: a.domain, user: a.user, password: a.password };
      try {
        return await withTimeout(deps.call(a.home, 'auth.check', login), ASK_HOME_MS);
      } catch (err) {
        // The home answered (a wrong password, rate_limited): that is the answer. Unreachable or silent: the copy answers.
        if (err instanceof CohortError && err.code !== 'con_lost') throw err;
      }
      try {
        await checkLogin(replica.users.passwordHash(a.domain, a.user), replica.logins, login);
      } catch (err) {
        if (err instanceof CohortError && err.code === 'refused') deps.log.warn({ event: 'login_failed', domain: a.domain, user: a.user, from: ctx.from, copyOf: a.home }, 'login failed (checked on the copy of her home)');
        throw err;
      }
      deps.answered(a.home, 'login');
      return { ok: true, home: a.home, copy: deps.self };
    },
  });
}
