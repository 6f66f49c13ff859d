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
 * Peers only (an app asks its node, which asks here only when the home cannot be reached). The
 * domain policy holds as at the home. A login asks the home first (it counts failures when it
 * can), then checks the copy, counting the failures the home told and its own against the same
 * limit. A copy this node does not keep whole (none, or a snapshot under way) answers con_lost,
 * as a home that cannot be reached: the access node's answer is then what it was before.
 */
export function registerCopyCommands(registry: CommandRegistry, deps: { self: string; replicas: Map<string, ReplicaStore>; policy: DomainPolicy; call: (to: string, cmd: string, args: unknown) => Promise<unknown>; answered: (home: string, use: CopyUse) => void; log: Logger }): void {
  const copyOf = (home: string): ReplicaStore => {
    const replica = deps.replicas.get(home);
    if (!replica) throw new CohortError('con_lost', `${deps.self} keeps no copy of ${home}'s users`);
    if (!replica.whole()) throw new CohortError('con_lost', `${deps.self}'s copy of ${home} is being made (a snapshot under way): it cannot answer for ${home} yet`);
    return replica;
  };

  registry.register({
    name: 'home.copy.read',
    summary: "read a user's records from this backup's copy of her home (asked when her home cannot be reached)",
    args: readArgs,
    scope: 'peers',
    run: (a, ctx) => {
      const { op, home: of, ...args } = a as { op: RecordRead; home: string; domain: string; user: string };
      deps.policy.check(ctx.from, args.domain, `home.copy.read ${op}`);
      const replica = copyOf(of);
      replica.moves.check(args.domain, args.user, false, `home.copy.read ${op}`);
      // Not proof that she does not live there: the copy may be behind (she was made while it was out of step).
      if (!replica.users.exists(args.domain, args.user)) throw new CohortError('con_lost', `${args.user}@${args.domain} is not in ${deps.self}'s copy of ${of}, which may be behind; ${of} cannot be reached`);
      deps.answered(of, 'read');
      return readRecords(replica.records, op, args);
    },
  });

  registry.register({
    name: 'home.copy.auth',
    summary: "check a user's password at this backup of her home (asked when her home cannot be reached; the home is asked first)",
    args: z.strictObject({ home, ...userRef, password }),
    scope: 'peers',
    run: async (a, ctx) => {
      deps.policy.check(ctx.from, a.domain, 'home.copy.auth');
      if (!deps.replicas.has(a.home)) copyOf(a.home); // con_lost: not a home whose copy is kept here (nor one to ask for)
      const login = { domain: a.domain, user: a.user, password: a.password };
      try {
        return await withTimeout(deps.call(a.home, 'auth.check', login), ASK_HOME_MS);
      } catch (err) {
        // The home answered (a wrong password, rate_limited): that is the answer. Unreachable or silent: the copy answers.
        if (err instanceof CohortError && err.code !== 'con_lost') throw err;
      }
      const replica = copyOf(a.home);
      replica.moves.check(a.domain, a.user, false, 'home.copy.auth');
      deps.answered(a.home, 'login');
      await checkLogin(replica.users.passwordHash(a.domain, a.user), replica.logins, login, () =>
        deps.log.warn({ event: 'login_failed', domain: a.domain, user: a.user, from: ctx.from, copyOf: a.home }, 'login failed (checked on the copy of her home)'),
      );
      return { ok: true, home: a.home, copy: deps.self };
    },
  });
}
