import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { CommandRegistry } from '../../commands/registry.ts';
import type { HostTable } from '../../config/host-table.ts';
import { CohortError } from '../../errors.ts';
import { inTransaction } from '../../store/database.ts';
import { backupOf } from '../backup-of.ts';
import { EntryWriter } from '../entry-writer.ts';
import { entryOfOtherDomain, homeEntrySchema, type HomeLog } from '../home-log.ts';
import { MAX_SHIP_ENTRIES } from '../home-shipper.ts';
import type { HomeTerm } from './home-term.ts';

const restoreId = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'a restore id');

/**
 * `home.restore` (issue 27): a home that comes back while its backup holds its writes is sent
 * the backup's copy whole, in parts with one id. `begin` empties its users, records, history and
 * the applied ids that go with them; `rows` sets the copy's rows; `end` closes it. Only from its
 * backup, only while the voters told this home that its backup holds a later epoch, and never
 * while this home holds its lease. What this home applied and never answered before it died
 * goes with the rest: those messages were taken by the backup (their ids come with its copy),
 * or their senders send them again.
 */
export function registerRestoreCommand(registry: CommandRegistry, deps: { self: string; table: HostTable; db: DatabaseSync; term: HomeTerm; homeLog: HomeLog; log: Logger }): void {
  const backup = backupOf(deps.table, deps.self);
  const writer = new EntryWriter(deps.db, { marksHome: true });
  let under: string | undefined;
  const domain = deps.table.nodes.find((n) => n.id === deps.self)!.domain;
  registry.register({
    name: 'home.restore',
    summary: "the home's backup, which held its writes while it was away, sends it its copy whole (peers only)",
    args: z.strictObject({ part: z.enum(['begin', 'rows', 'end']), id: restoreId, entries: z.array(homeEntrySchema).max(MAX_SHIP_ENTRIES) }),
    scope: 'peers',
    run: (a, ctx) => {
      if (ctx.from !== backup) throw new CohortError('refused', `only ${deps.self}'s backup ${backup} sends it its users back (this came from ${ctx.from})`);
      const s = deps.term.status();
      if (s.leaseHeld) throw new CohortError('refused', `${deps.self} holds its own lease at epoch ${s.epoch}: it takes no copy from ${ctx.from}`);
      if (s.heldBy?.primary !== ctx.from) throw new CohortError('refused', `the voters have not told ${deps.self} that ${ctx.from} holds its writes`);
      const foreign = entryOfOtherDomain(a.entries, domain);
      if (foreign) throw new CohortError('refused', `${deps.self} is a home of domain '${domain}', not '${foreign[1]}'`);
      if (a.part !== 'begin' && under !== a.id) throw new CohortError('refused', `restore ${a.id} is not the one under way`);
      inTransaction(deps.db, () => {
        // Its log described the rows it had: a new run, so its backup's copy is sent whole once it holds its writes again.
        if (a.part === 'begin') {
          writer.empty();
          deps.homeLog.restart();
        }
        for (const e of a.entries) writer.apply(e);
      }, 'BEGIN IMMEDIATE');
      if (a.part === 'begin') {
        under = a.id;
        deps.log.warn({ event: 'home_restore_begin', from: ctx.from, id: a.id }, `${ctx.from} held this home's writes while it was away: its users and records are taken back from ${ctx.from}'s copy`);
      }
      if (a.part === 'end') {
        under = undefined;
        deps.log.warn({ event: 'home_restored', from: ctx.from, id: a.id }, `this home's users and records are ${ctx.from}'s copy now`);
      }
      return { ok: true };
    },
  });
}
