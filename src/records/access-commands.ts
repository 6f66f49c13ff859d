import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import { LOCAL } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import type { CriticalService } from '../critical/critical-service.ts';
import { CohortError, movedTo } from '../errors.ts';
import { backupOf } from '../homes/backup-of.ts';
import type { Call, HomeLookup } from './home-lookup.ts';
import { password, RECORD_WRITES, recordArgs, userName, userRef, type RecordOp } from './names.ts';

export interface AccessDeps {
  table: HostTable;
  homes: HomeLookup;
  critical: CriticalService;
  /** A plain command to any node, this one included. */
  call: Call;
  /** A command as a node sends it to another (peers-only commands), also when the other is this one. */
  callAsPeer: Call;
  log: Logger;
}

/**
 * What apps on any node use for users and records (seed 000's lonnet side): find her
 * home, then read there (con_lost if it is unreachable) or write there as a critical
 * message (ok, or delayed until it is back). Local processes only.
 */
export function registerAccessCommands(registry: CommandRegistry, deps: AccessDeps): void {
  const { homes } = deps;

  /** The library node of a domain that checks logins for a name nobody holds: always the same one for a name. */
  const standIn = (domain: string, user: string): string => {
    const libraries = deps.table.nodes.filter((n) => n.role === 'library' && n.domain === domain).map((n) => n.id);
    if (libraries.length === 0) throw new CohortError('refused', 'bad user name or password');
    return libraries[createHash('sha256').update(`${domain}/${user}`).digest().readUInt32BE(0) % libraries.length];
  };

  /**
   * Where her password is checked: her home; for an unknown name, a library node of the domain
   * chosen by the name, which checks it like a real one (the same hash, the same rate limit, the
   * same answers), so neither the answer nor the limit tells which names exist. Also when a
   * library node that might hold her cannot answer: a backup's copy finds its home's users
   * (home.query), so a con_lost here would tell a name nobody holds from a real one.
   */
  const passwordChecker = async (domain: string, user: string): Promise<string> => {
    try {
      return await homes.find(domain, user);
    } catch (err) {
      if (!(err instanceof CohortError) || (err.code !== 'no_such_user' && err.code !== 'con_lost')) throw err;
      return standIn(domain, user);
    }
  };

  /** Is `to` a library node of her domain, other than the home that named it? (A home's word is checked, as any peer's.) */
  const homeOfDomain = (domain: string, to: string, from: string): boolean => to !== from && deps.table.nodes.some((n) => n.id === to && n.role === 'library' && n.domain === domain);

  /**
   * At `home`, or, once it says she moved (`cohort user move`), at her new home. Remembered only
   * while no write of this node waits for the old home: one sent to the new home at once could
   * pass it (the outbox remembers her new home once they are through).
   */
  const followingMove = async <T>(domain: string, user: string, home: string, fn: (home: string) => Promise<T>): Promise<T> => {
    try {
      return await fn(home);
    } catch (err) {
      const to = movedTo(err);
      if (to === undefined || !homeOfDomain(domain, to, home)) throw err;
      if (deps.critical.pendingFor(home) === 0) homes.remember(domain, user, to);
      return fn(to);
    }
  };

  // A home that says she does not live there any more makes us ask again next time.
  const atHome = async <T>(domain: string, user: string, fn: (home: string) => Promise<T>): Promise<T> => {
    const home = await homes.find(domain, user);
    try {
      return await followingMove(domain, user, home, fn);
    } catch (err) {
      if (err instanceof CohortError && err.code === 'no_such_user') homes.forget(domain, user);
      throw err;
    }
  };

  // A write sent on to her new home by the outbox (its old home said she moved): hers go there from now on.
  deps.critical.moved.onMoved = (cmd, args, to) => {
    const who = z.object(userRef).safeParse(args);
    if (cmd.startsWith('rec.') && who.success) homes.remember(who.data.domain, who.data.user, to);
  };
  // Only a record write for her, and only to another library node of her domain, goes on.
  deps.critical.moved.movesTo = (cmd, args, to, from) => {
    const who = z.object(userRef).safeParse(args);
    return cmd.startsWith('rec.') && who.success && homeOfDomain(who.data.domain, to, from);
  };

  /**
   * A read or a login at her home, or, when the home cannot be reached, at its backup from the
   * copy it keeps (issue 27). Either answer stands, a refusal included; only a home that cannot
   * be reached sends the question on.
   */
  const homeOrCopy = async (home: string, cmd: string, args: object, copyCmd: string, copyArgs: object = {}): Promise<unknown> => {
    try {
      return await deps.call(home, cmd, args);
    } catch (err) {
      const backup = backupOf(deps.table, home);
      if (!(err instanceof CohortError) || err.code !== 'con_lost' || backup === undefined) throw err;
      try {
        return await deps.callAsPeer(backup, copyCmd, { ...args, ...copyArgs, home });
      } catch (copyErr) {
        if (copyErr instanceof CohortError && copyErr.code === 'con_lost') throw new CohortError('con_lost', `${home}: ${err.message}; its backup ${backup}: ${copyErr.message}`);
        throw copyErr;
      }
    }
  };

  for (const op of Object.keys(recordArgs) as RecordOp[]) {
    const write = RECORD_WRITES.includes(op);
    registry.register({
      name: `records.${op}`,
      summary: write ? `rec.${op} on the user's home node, as a critical message (ok or delayed)` : `rec.${op} on the user's home node (or its backup's copy while it cannot be reached)`,
      args: recordArgs[op] as z.ZodType<{ domain: string; user: string }>,
      scope: 'local',
      run: (a) => atHome(a.domain, a.user, (home) => (write ? deps.critical.sendToHome(home, `rec.${op}`, a) : homeOrCopy(home, `rec.${op}`, a, 'home.copy.read', { op }))),
    });
  }

  registry.register({
    name: 'home.find',
    summary: "the id of a user's home node",
    args: z.strictObject(userRef),
    scope: 'local',
    run: async (a) => {
      const home = homes.remembered(a.domain, a.user);
      if (home === undefined) return { home: await homes.find(a.domain, a.user) };
      // A remembered home is asked again here: one she moved away from says no (a home that cannot be reached stands).
      const answer = (await deps.call(home, 'home.query', { domain: a.domain, user: a.user }).catch(() => undefined)) as { home?: unknown } | undefined;
      if (answer?.home !== false) return { home };
      homes.forget(a.domain, a.user);
      return { home: await homes.find(a.domain, a.user) };
    },
  });

  registry.register({
    name: 'auth.login',
    summary: "check a user's password at her home node (or its backup while it cannot be reached), from any node",
    args: z.strictObject({ ...userRef, password }),
    scope: 'local',
    run: async (a) => followingMove(a.domain, a.user, await passwordChecker(a.domain, a.user), (home) => homeOrCopy(home, 'auth.check', a, 'home.copy.auth')),
  });

  registry.register({
    name: 'user.add',
    summary: 'create a user on her home library node, once per domain',
    args: z.strictObject({ domain: userRef.domain, user: userName, home: z.string().min(1), password }),
    scope: 'local',
    run: async (a) => {
      const home = deps.table.nodes.find((n) => n.id === a.home);
      if (!home || home.role !== 'library' || home.domain !== a.domain) {
        const libraries = deps.table.nodes.filter((n) => n.role === 'library' && n.domain === a.domain).map((n) => n.id);
        throw new CohortError('bad_args', `home must be a library node of domain '${a.domain}' (${libraries.join(', ') || 'none'}), not '${a.home}'`);
      }
      try {
        const existing = await homes.find(a.domain, a.user);
        throw new CohortError('refused', `${a.user}@${a.domain} exists already (home ${existing})`);
      } catch (err) {
        if (!(err instanceof CohortError) || err.code !== 'no_such_user') throw err;
      }
      const reply = await deps.call(a.home, 'user.create', { domain: a.domain, user: a.user, password: a.password });
      deps.log.info({ event: 'user_added', domain: a.domain, user: a.user, home: a.home, from: LOCAL }, `user ${a.user}@${a.domain} added on ${a.home}`);
      return reply;
    },
  });

  registry.register({
    name: 'auth.password.change',
    summary: "a user changes her own password (her current one checked at her home as a login is); set on her home and its backup, or on neither",
    args: z.strictObject({ ...userRef, password, newPassword: password }),
    scope: 'local',
    // No copy answers this: a password is set on both copies or refused (con_lost while her home cannot be reached).
    run: async (a) => followingMove(a.domain, a.user, await passwordChecker(a.domain, a.user), (home) => deps.call(home, 'user.password.change', a)),
  });

  registry.register({
    name: 'user.password',
    summary: "set a new password for a user, on her home (operator only; refused while her home's backup is out of step)",
    args: z.strictObject({ domain: userRef.domain, user: userName, password }),
    scope: 'operator',
    run: async (a) => atHome(a.domain, a.user, (home) => deps.call(home, 'user.password.reset', { domain: a.domain, user: a.user, password: a.password })),
  });

  registry.register({
    name: 'user.move',
    summary: "move a user to another library node of her domain (operator): her records are copied and her home switched; her writes wait meanwhile, none is lost",
    args: z.strictObject({ domain: userRef.domain, user: userName, to: z.string().min(1).max(32) }),
    scope: 'operator',
    run: async (a) => deps.call(await homes.find(a.domain, a.user), 'home.user.move', a),
  });
}
