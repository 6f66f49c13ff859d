import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import { MAX_TABLES } from '../config/front-schema.ts';
import { RecentMap } from '../recent-map.ts';
import { Lard, MAX_KEY_CHARS, tableKey, type LardSettings, type ServerLoad } from '../lard/lard-table.ts';

/** What one batch from a front may carry (a bound on what a caller can make the dispatcher hold or do). */
export const MAX_ITEMS = 1024;
const MAX_SERVERS = 256;
export { MAX_TABLES };
/**
 * Route tables one dispatcher holds (MAX_TABLES, where the host table's check refuses a fifth
 * route on one dispatcher), and targets in each at most (whatever a front asks for; a
 * front's own table holds 100,000 by default). With keys of at most MAX_KEY_CHARS, the tables'
 * keys take at most 4 × 100,000 × 128 B = 51 MB; measured, a full table of 1 KiB targets takes
 * 20-40 MiB of heap (test/dispatcher/shared-lard.unit.test.ts). It was 16 tables of 250,000 targets of 1 KiB.
 */
const MAX_TABLE_TARGETS = 100_000;
/** A front not heard from for this long has no requests in flight any more (it stopped, or decides alone). */
const FRONT_GONE_MS = 30_000;

const id = z.string().min(1).max(128);
const decideArgs = z.strictObject({
  /** The asking front's id for this run (its in-flight counts are its own). */
  front: z.string().min(1).max(64),
  route: z.string().min(1).max(64),
  mode: z.enum(['lard', 'lard_r']),
  settings: z.strictObject({ tLow: z.number().int().min(1).max(100_000), tHigh: z.number().int().min(2).max(100_000), kMs: z.number().min(0).max(3_600_000), maxTargets: z.number().int().min(1).max(10_000_000) }).refine((s) => s.tLow < s.tHigh, 'tLow must be below tHigh'),
  servers: z.array(z.strictObject({ id, capacity: z.number().int().min(1).max(1000) })).max(MAX_SERVERS),
  items: z.array(z.strictObject({ target: z.string().max(1024), exclude: z.array(id).max(64).optional() })).max(MAX_ITEMS),
  /** Sizes of targets the front saw answered whole (LARD places new targets by bytes). */
  sizes: z.array(z.strictObject({ target: z.string().max(1024), bytes: z.number().int().min(0).max(2 ** 40) })).max(MAX_ITEMS).optional(),
  /** Requests this front's earlier picks finished, per server. */
  done: z.record(id, z.number().int().min(1).max(1_000_000)).refine((d) => Object.keys(d).length <= MAX_SERVERS, 'too many servers'),
});
export type DecideArgs = z.output<typeof decideArgs>;
export interface DecideReply {
  picks: ({ id: string; why: string } | null)[];
}

interface RouteTable {
  lard: Lard;
  /** front -> server -> requests in flight it was told to send there. */
  inFlight: Map<string, Map<string, number>>;
  lastHeard: Map<string, number>;
}

/**
 * A LARD dispatcher several fronts share (seed 003; Aron et al., USENIX 2000): the target
 * table lives here, and a server's load is every front's requests in flight on it, as the
 * fronts' decisions and completion notices tell it. Decisions come in batches, one per
 * front per round trip. Bounded: MAX_TABLES route tables of at most MAX_TABLE_TARGETS targets
 * held by keys of at most MAX_KEY_CHARS, 64 fronts each, MAX_SERVERS servers, MAX_ITEMS targets
 * of at most 1 KiB a batch.
 */
export class SharedLard {
  private readonly routes = new RecentMap<string, RouteTable>(MAX_TABLES);
  decisions = 0;

  decide(a: DecideArgs, now = Date.now()): DecideReply {
    const table = this.table(a);
    table.lastHeard.set(a.front, now);
    let mine = table.inFlight.get(a.front);
    if (!mine) {
      if (table.inFlight.size >= 64) this.dropQuietest(table);
      mine = new Map();
      table.inFlight.set(a.front, mine);
    }
    for (const [server, n] of Object.entries(a.done)) {
      const left = (mine.get(server) ?? 0) - n;
      if (left > 0) mine.set(server, left);
      else mine.delete(server);
    }
    this.forgetGone(table, now);
    for (const s of a.sizes ?? []) table.lard.sized(s.target, s.bytes);
    const loads = new Map<string, number>();
    for (const counts of table.inFlight.values()) for (const [server, n] of counts) loads.set(server, (loads.get(server) ?? 0) + n);
    const all: ServerLoad[] = a.servers.map((s) => ({ id: s.id, capacity: s.capacity, load: loads.get(s.id) ?? 0 }));
    const picks = a.items.map((item) => {
      const excluded = item.exclude?.length ? new Set(item.exclude) : undefined;
      const servers = excluded ? all.filter((s) => !excluded.has(s.id)) : all;
      const d = table.lard.decide(tableKey(item.target), servers, now);
      if (!d) return null;
      // Counted at once: the next item of this batch sees it.
      const s = servers.find((x) => x.id === d.server)!;
      s.load++;
      mine.set(d.server, (mine.get(d.server) ?? 0) + 1);
      this.decisions++;
      return { id: d.server, why: d.why };
    });
    return { picks };
  }

  private table(a: DecideArgs): RouteTable {
    const key = `${a.route}|${a.mode}|${a.settings.tLow}|${a.settings.tHigh}|${a.settings.kMs}|${a.settings.maxTargets}`;
    let table = this.routes.get(key);
    if (!table) {
      const settings: LardSettings = { ...a.settings, maxTargets: Math.min(a.settings.maxTargets, MAX_TABLE_TARGETS) };
      table = { lard: new Lard(a.mode, settings), inFlight: new Map(), lastHeard: new Map() };
    }
    // Set again on every use: the table past MAX_TABLES that goes is the one used least recently.
    this.routes.set(key, table);
    return table;
  }

  private forgetGone(table: RouteTable, now: number): void {
    for (const [front, heard] of table.lastHeard) {
      if (now - heard < FRONT_GONE_MS) continue;
      table.lastHeard.delete(front);
      table.inFlight.delete(front);
    }
  }

  private dropQuietest(table: RouteTable): void {
    let quietest: string | undefined;
    for (const [front, heard] of table.lastHeard) if (quietest === undefined || heard < table.lastHeard.get(quietest)!) quietest = front;
    if (quietest === undefined) return;
    table.lastHeard.delete(quietest);
    table.inFlight.delete(quietest);
  }
}

/** `lard.decide` on every node: any node can be the dispatcher a route names. */
export function registerDispatcherCommands(registry: CommandRegistry, shared: SharedLard): void {
  registry.register({
    name: 'lard.decide',
    summary: 'a shared LARD dispatcher: a batch of targets to place, and the front\'s finished requests per server',
    args: decideArgs,
    // Fronts only (they are the operator's processes): an app must not steer other apps' traffic.
    scope: 'operator',
    run: (a) => shared.decide(a),
  });
}
