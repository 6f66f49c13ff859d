import { recordsInPostgres } from '../config/schema.ts';
import { z } from 'zod';
import type { CommandContext, CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import { backupOf } from './backup-of.ts';
import type { BackupStatus } from './home-shipper.ts';
import { entryOfOtherDomain, homeEntrySchema, MAX_JOB_ENTRIES, type HomeEntry } from './home-log.ts';
import { MAX_SHIP_ENTRIES } from './home-shipper.ts';
import type { ReplicaStore } from './replica-store.ts';
import { MAX_SENT_EVENTS } from './login-relay.ts';
import { userName } from '../records/names.ts';
import type { FailureLimiter } from '../records/rate-limit.ts';

type FailureLimiterLike = Pick<FailureLimiter, 'told'>;

const home = z.string().min(1).max(64);
const lsn = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const logId = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'a log id');
// A batch, or one critical message's job sent whole (it may be more than a batch).
const entries = z.array(homeEntrySchema).max(Math.max(MAX_SHIP_ENTRIES, MAX_JOB_ENTRIES));
const time = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const loginEvents = z.array(z.tuple([z.enum(['fail', 'forgive']), userName, time])).max(MAX_SENT_EVENTS);

/**
 * The backup's side of a home's log (issue 27): `home.replicate` and `home.snapshot` from the
 * home itself only, only at its backup, and only rows of the home's domain; `home.logins`, the
 * failed logins a home and its backup tell each other; `home.backup`, what this node's home and
 * copies stand at (for operators and the dashboard).
 */
export function registerHomeBackupCommands(registry: CommandRegistry, deps: { self: string; table: HostTable; replicas: Map<string, ReplicaStore>; status: () => BackupStatus | null; ownLogins: FailureLimiterLike; takenOver?: (home: string) => number }): void {
  const replicaFor = (a: { home: string; entries?: HomeEntry[] }, ctx: CommandContext): ReplicaStore => {
    if (ctx.from !== a.home) throw new CohortError('refused', `only ${a.home} sends its own changes (this came from ${ctx.from})`);
    const replica = deps.replicas.get(a.home);
    if (!replica || backupOf(deps.table, a.home) !== deps.self) throw new CohortError('refused', `${deps.self} is not the backup of ${a.home}`);
    // Promoted: this copy took writes of its own, which the home lacks; it hands them back before it takes the home's log again.
    if (deps.takenOver?.(a.home)) throw new CohortError('refused', `${deps.self} holds ${a.home}'s writes now (a later epoch): its copy takes no log from ${a.home} until it has handed them back`);
    // A home's users are of its domain: a row of another domain is no change it could have made.
    const domain = deps.table.nodes.find((n) => n.id === a.home)!.domain;
    const foreign = a.entries && entryOfOtherDomain(a.entries, domain);
    if (foreign) throw new CohortError('refused', `${a.home} is a home of domain '${domain}', not '${foreign[1]}'`);
    return replica;
  };
  registry.register({
    name: 'home.replica.held',
    summary: "which of its home's changes this backup holds (the home asks; peers only)",
    args: z.strictObject({ home }),
    scope: 'peers',
    run: (a, ctx) => replicaFor(a, ctx).held(),
  });
  registry.register({
    name: 'home.replicate',
    summary: "apply a batch of the home's changes that follows what this backup holds (peers only)",
    args: z.strictObject({ home, logId, from: lsn, entries }),
    scope: 'peers',
    run: (a, ctx) => replicaFor(a, ctx).apply(a.logId, a.from, a.entries),
  });
  registry.register({
    name: 'home.snapshot',
    summary: "a part of a snapshot of the home's users and records, which this backup's copy becomes (peers only)",
    args: z.strictObject({ home, part: z.enum(['begin', 'rows', 'end']), id: logId, logId, entries, lsn }),
    scope: 'peers',
    run: (a, ctx) => replicaFor(a, ctx).snapshot(a.part, a.id, a.logId, a.entries, a.lsn),
  });
  registry.register({
    name: 'home.logins',
    summary: "failed logins of a home's users (and those a right password forgave) checked on the other copy: the home tells its backup, the backup its home (peers only)",
    args: z.strictObject({ home, events: loginEvents }),
    scope: 'peers',
    run: (a, ctx) => {
      const domain = deps.table.nodes.find((n) => n.id === a.home)?.domain;
      if (a.home === deps.self) {
        // The backup tells this home what it checked on its copy while this home could not be reached.
        if (ctx.from !== backupOf(deps.table, deps.self)) throw new CohortError('refused', `only ${deps.self}'s backup tells it of logins checked on its copy (this came from ${ctx.from})`);
        deps.ownLogins.told(domain!, a.events);
      } else {
        replicaFor(a, ctx).logins.told(domain!, a.events);
      }
      return { taken: a.events.length };
    },
  });
  registry.register({
    name: 'home.backup',
    summary: "this node's home and its backup (in step or not, how far behind), and the homes it keeps copies of",
    args: z.strictObject({}),
    scope: 'any',
    run: () => ({
      node: deps.self,
      // Where its users and records are: 'postgres' has no backup here (PostgreSQL's standby is it).
      store: recordsInPostgres(deps.table.nodes.find((n) => n.id === deps.self)) ? 'postgres' : 'sqlite',
      home: deps.status(),
      // holds: the epoch at which this node took the home's writes over (promoted), 0 if it did not.
      copies: [...deps.replicas.values()].map((r) => ({ home: r.home, ...r.held(), holds: deps.takenOver?.(r.home) ?? 0 })),
    }),
  });
}
