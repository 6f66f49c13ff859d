import type { Command } from 'commander';
import type { BackupStatus } from '../homes/home-shipper.ts';
import { configOption, formatTable, fromOption, withClient } from './common.ts';

interface HomeReport {
  node: string;
  /** Where its users and records are (older nodes do not say: sqlite). */
  store?: 'sqlite' | 'postgres';
  home: BackupStatus | null;
  /** holds: the epoch at which that node took the home's writes over (0 or absent: it did not). */
  copies: { home: string; lsn: number; logId: string | null; holds?: number }[];
}

/** `cohort homes`: each home library node, its backup, whether writes wait for it, how far behind it is (issue 27). */
export function addHomesCommand(program: Command): void {
  program
    .command('homes')
    .description("each home library node and its backup: in step (writes wait for it) or not, and how far behind")
    .addOption(configOption())
    .addOption(fromOption())
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; from: string; json?: boolean }) => {
      const reports = await withClient(opts, async (client, table) => {
        const libraries = table.nodes.filter((n) => n.role === 'library').map((n) => n.id);
        return Promise.all(libraries.map(async (node) => {
          try {
            return { node, ...((await client.call(node, 'home.backup', {})) as Omit<HomeReport, 'node'>), error: null };
          } catch (err) {
            return { node, home: null, store: undefined, copies: [], error: (err as Error).message };
          }
        }));
      });
      if (opts.json) return void process.stdout.write(JSON.stringify(reports) + '\n');
      const rows = reports.map((r) => {
        const h = r.home;
        const kept = r.copies.map((c) => `${c.home}@${c.lsn}${c.holds ? ` HOLDS ${c.home}'s writes (epoch ${c.holds})` : ''}`).join(' ') || '-';
        if (r.error) return [r.node, '?', 'unreachable', '-', '-', '-', '-', '-', '-', kept, r.error];
        if (!h && r.store === 'postgres') return [r.node, 'postgres', '-', '-', '-', '-', '-', '-', '-', kept, "records in PostgreSQL: its standby is their backup"];
        if (!h) return [r.node, '-', 'no backup', '-', '-', '-', '-', '-', '-', kept, 'no other library node in its domain'];
        const since = h.outOfSyncSince === null ? '' : `since ${new Date(h.outOfSyncSince).toISOString()}: `;
        const t = h.term;
        const lease = t ? (t.leaseHeld ? `held ${t.votersAnswered.length}/${t.voters.length}` : `NOT HELD ${t.votersAnswered.length}/${t.voters.length}`) : t === null ? 'no voters' : '-';
        const why = [h.inSync ? '' : `${since}${h.why ?? ''}`, t?.heldBy ? `${t.heldBy.primary} holds epoch ${t.heldBy.epoch}` : ''].filter(Boolean).join('; ');
        return [r.node, h.backup, h.inSync ? 'yes' : 'NO', t ? String(t.epoch) : '-', lease, String(h.acked), String(h.lsn), String(h.lag), Number.isFinite(h.aloneSeconds) ? `${Math.round(h.aloneSeconds)}s` : '-', kept, why];
      });
      // EPOCH and LEASE: its terms with its domain's voters (voters that answered / voters); ALONE: the time it answered writes on its own since it started.
      process.stdout.write(formatTable(['HOME', 'BACKUP', 'IN STEP', 'EPOCH', 'LEASE', 'HELD', 'LOG', 'LAG', 'ALONE', 'COPIES KEPT', 'WHY'], rows));
    });
}
