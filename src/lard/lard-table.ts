import { createHash } from 'node:crypto';
import { RecentMap } from '../recent-map.ts';
import { ownString } from '../own-string.ts';
import { PlacedBytes } from './placed-bytes.ts';

/** A server as LARD sees it: requests in flight from this front, and its capacity (1 = the paper's node). */
export interface ServerLoad {
  id: string;
  load: number;
  capacity: number;
}

export interface LardSettings {
  /** Below this load a server is underused (the paper's T_low), per unit of capacity. */
  tLow: number;
  /** Above this load a server is overloaded (T_high), per unit of capacity. */
  tHigh: number;
  /** LARD/R: a target's server set shrinks only after K ms without change. */
  kMs: number;
  /** At most this many targets remembered; the least recently used is forgotten first. */
  maxTargets: number;
}

export const LARD_DEFAULTS: LardSettings = { tLow: 25, tHigh: 65, kMs: 20_000, maxTargets: 100_000 };

export type LardMode = 'lard' | 'lard_r';

interface Entry {
  /** The table's key for the target: a digest, or a copy of the path that holds nothing else (own-string.ts). */
  key: string;
  /** LARD: exactly one server; LARD/R: the target's server set (never empty while held). An array, not a Set: a few ids, at a tenth of the bytes. */
  members: string[];
  lastModified: number;
  /** Bytes this target is counted for on each member: its size once a response said, else the mean size known when it was placed. */
  charged: number;
  /** Whether `charged` is the target's own size (a response told it). */
  sized: boolean;
}

/**
 * The most bytes one target counts for: a download of gigabytes is not what a back-end's cache
 * holds, and would make the mean that new targets count at meaningless.
 */
export const MAX_COUNTED_BYTES = 64 * 2 ** 20;

/**
 * Targets longer than this are held by a digest: the table's keys then take at most
 * maxTargets × 128 characters, whatever paths clients choose (up to limits.maxHeaderBytes).
 */
export const MAX_KEY_CHARS = 128;

/** The table key of a target: itself when short, else '#' and 128 bits of its SHA-256 (never a path, which starts with '/'). */
export function tableKey(target: string): string {
  if (target.length <= MAX_KEY_CHARS) return target;
  return `#${createHash('sha256').update(target).digest().toString('base64url', 0, 16)}`;
}

const tLowOf = (s: ServerLoad, st: LardSettings) => st.tLow * s.capacity;
const tHighOf = (s: ServerLoad, st: LardSettings) => st.tHigh * s.capacity;

/** Less loaded per unit of capacity first; equal ones by id (code-unit order), so picks are exact. */
function lighter(a: ServerLoad, b: ServerLoad): number {
  const d = a.load / a.capacity - b.load / b.capacity;
  if (d !== 0) return d;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function leastLoaded(list: ServerLoad[]): ServerLoad {
  return list.reduce((best, s) => (lighter(s, best) < 0 ? s : best));
}

function mostLoaded(list: ServerLoad[]): ServerLoad {
  return list.reduce((worst, s) => (lighter(s, worst) > 0 ? s : worst));
}

/**
 * Locality-Aware Request Distribution (Pai et al., ASPLOS 1998): a target stays on the
 * server(s) that have it cached until load imbalance is large enough to justify moving
 * (LARD) or replicating (LARD/R) it. Pure decision core: no timers, `now` comes in.
 */
export class Lard {
  readonly mode: LardMode;

  /** The thresholds it decides by (a shared dispatcher is told them). */
  get settings(): LardSettings {
    return { ...this.st };
  }
  private readonly st: LardSettings;
  /**
   * Map order is recency: a used target is deleted and set again (under the entry's own key),
   * the first key is the LRU. Keys are at most MAX_KEY_CHARS long.
   */
  private readonly table: RecentMap<string, Entry>;
  /** What each server's cache must hold for the targets placed on it. */
  private readonly bytes = new PlacedBytes();

  constructor(mode: LardMode, settings: LardSettings) {
    const { tLow, tHigh, kMs, maxTargets } = settings;
    if (!(Number.isInteger(tLow) && tLow >= 1 && Number.isInteger(tHigh) && tHigh > tLow)) {
      throw new RangeError(`LARD needs integers 1 <= T_low < T_high, got ${tLow}, ${tHigh}`);
    }
    if (!(kMs >= 0) || !(Number.isInteger(maxTargets) && maxTargets >= 1)) {
      throw new RangeError(`LARD needs K >= 0 and maxTargets >= 1, got ${kMs}, ${maxTargets}`);
    }
    this.mode = mode;
    this.st = { ...settings };
    // The least recently used target goes past maxTargets, and the bytes it was placed with.
    this.table = new RecentMap(settings.maxTargets, (_key, entry) => this.forgetEntry(entry));
  }

  /** Targets held. */
  get size(): number {
    return this.table.size;
  }

  /**
   * The paper's bound on requests in flight over all servers, S = (n-1)*T_high + T_low - 1:
   * with no more than S in flight, whenever all servers but one are at or over T_high the
   * remaining one is under T_low, so an overloaded target always has somewhere to go.
   * With capacities that guarantee holds for every server j iff
   * S <= sum(T_high_i, i != j) + T_low_j - 1, so S = sum(T_high) - max_j(T_high_j - T_low_j) - 1,
   * the largest value keeping it (the j with the largest capacity). Equal capacities give the
   * paper's formula. 0 for no servers.
   */
  admissionLimit(servers: ServerLoad[]): number {
    if (servers.length === 0) return 0;
    let sumHigh = 0;
    let widest = 0;
    for (const s of servers) {
      sumHigh += tHighOf(s, this.st);
      widest = Math.max(widest, tHighOf(s, this.st) - tLowOf(s, this.st));
    }
    return Math.max(0, Math.floor(sumHigh - widest - 1));
  }

  /**
   * Where a request for `target` goes, among `servers` (the candidates now); undefined only for
   * none. `why` says why when `explain` (else ''): built only for whoever reads it.
   */
  decide(target: string, servers: ServerLoad[], now: number, explain = true): { server: string; why: string } | undefined {
    if (servers.length === 0) return undefined;
    const byId = new Map(servers.map((s) => [s.id, s]));
    const key = tableKey(target);
    let entry = this.table.get(key);
    const notes: string[] | undefined = explain ? [] : undefined;
    // A remembered server that is not a candidate now is out of the set (unset, for LARD).
    const gone = entry ? entry.members.filter((id) => !byId.has(id)) : [];
    if (gone.length > 0) {
      for (const id of gone) this.bytes.add(id, -entry!.charged);
      entry!.members = entry!.members.filter((id) => byId.has(id));
    }
    let changed = gone.length > 0;
    if (gone.length > 0) notes?.push(`${gone.join(',')} not a candidate`);

    let n: ServerLoad;
    if (!entry || entry.members.length === 0) {
      // First assignment: the bytes the servers' caches must hold spread evenly (firstServer).
      n = this.firstServer(servers);
      if (entry) {
        entry.members = [n.id];
        entry.lastModified = now;
      } else {
        entry = { key: key === target ? ownString(key) : key, members: [n.id], lastModified: now, charged: this.bytes.estimate, sized: false };
      }
      notes?.push(`new, ${n.id} (${this.bytes.of(n.id)} B placed, load ${n.load})`);
      this.bytes.add(n.id, entry.charged);
      this.table.set(entry.key, entry);
      return { server: n.id, why: notes ? this.explain(target, entry, notes) : '' };
    }

    const members = entry.members.map((id) => byId.get(id)!);
    n = leastLoaded(members);
    const m = mostLoaded(members);
    const overload = this.overloaded(n, servers);
    if (overload) {
      const p = leastLoaded(servers);
      if (this.mode === 'lard') {
        if (p.id !== n.id) {
          this.bytes.add(n.id, -entry.charged);
          this.bytes.add(p.id, entry.charged);
          entry.members = [p.id];
          changed = true;
          notes?.push(`moved ${n.id}->${p.id} (${overload})`);
        } else {
          notes?.push(`stays on ${n.id}, least loaded though ${overload}`);
        }
      } else if (!entry.members.includes(p.id)) {
        entry.members.push(p.id);
        this.bytes.add(p.id, entry.charged);
        changed = true;
        notes?.push(`grew by ${p.id} (${overload})`);
      } else {
        notes?.push(`${p.id} least loaded though ${overload}`);
      }
      n = p;
    } else if (this.mode === 'lard') {
      notes?.push(`stays on ${n.id} (${n.load})`);
    }

    if (this.mode === 'lard_r') {
      const age = now - entry.lastModified;
      if (entry.members.length > 1 && age > this.st.kMs) {
        entry.members.splice(entry.members.indexOf(m.id), 1);
        this.bytes.add(m.id, -entry.charged);
        changed = true;
        notes?.push(`shrank by ${m.id} (unchanged ${age} ms > K ${this.st.kMs})`);
      }
      if (!overload) notes?.push(`${n.id} least loaded (${n.load})`);
    }
    if (changed) entry.lastModified = now;
    this.table.set(entry.key, entry);
    return { server: n.id, why: notes ? this.explain(target, entry, notes) : '' };
  }

  /** A whole response of `bytes` for `target`: the target counts at its own size (at most MAX_COUNTED_BYTES) from now on. */
  sized(target: string, size: number): void {
    const entry = this.table.get(tableKey(target));
    if (!entry || !(size >= 0)) return;
    const bytes = Math.min(Math.round(size), MAX_COUNTED_BYTES);
    if (entry.sized && entry.charged === bytes) return;
    this.bytes.learned(bytes, entry.sized ? entry.charged : undefined);
    for (const id of entry.members) this.bytes.add(id, bytes - entry.charged);
    entry.charged = bytes;
    entry.sized = true;
  }

  /** Bytes placed on each server (the front's /status). */
  placed(): Record<string, number> {
    return this.bytes.snapshot();
  }

  private forgetEntry(entry: Entry): void {
    for (const id of entry.members) this.bytes.add(id, -entry.charged);
    if (entry.sized) this.bytes.unlearned(entry.charged);
  }

  /**
   * Where a new target goes: among the underused servers (load under T_low), else those not over
   * T_high, the one holding the fewest bytes per unit of capacity (the lighter on a tie); when
   * every server is over T_high, the least loaded. The paper takes the least loaded server, but
   * in-flight counts while caches are cold say little about what each cache will have to hold:
   * placed that way, one back-end's share of the bytes can outgrow its cache and it misses for good.
   */
  private firstServer(servers: ServerLoad[]): ServerLoad {
    const pick = (fits: (s: ServerLoad) => boolean): ServerLoad | undefined => {
      let best: ServerLoad | undefined;
      let bestBytes = Infinity;
      for (const s of servers) {
        if (!fits(s)) continue;
        const bytes = this.bytes.of(s.id) / s.capacity;
        if (bytes < bestBytes || (bytes === bestBytes && lighter(s, best!) < 0)) {
          best = s;
          bestBytes = bytes;
        }
      }
      return best;
    };
    return pick((s) => s.load < tLowOf(s, this.st)) ?? pick((s) => s.load <= tHighOf(s, this.st)) ?? leastLoaded(servers);
  }

  /**
   * The paper's test: (n.load > T_high and some server has load < T_low) or n.load >= 2*T_high,
   * each server against its own scaled thresholds. Returns why, or undefined if not.
   */
  private overloaded(n: ServerLoad, servers: ServerLoad[]): string | undefined {
    const high = tHighOf(n, this.st);
    if (n.load > high) {
      const under = servers.filter((s) => s.load < tLowOf(s, this.st));
      if (under.length > 0) {
        const u = leastLoaded(under);
        return `${n.id} ${n.load} > T_high ${high}, ${u.id} ${u.load} < T_low ${tLowOf(u, this.st)}`;
      }
    }
    if (n.load >= 2 * high) return `${n.id} ${n.load} >= 2*T_high ${2 * high}`;
    return undefined;
  }


  private explain(target: string, entry: Entry, notes: string[]): string {
    // A short reason whatever the set's size: the first members, then how many more.
    const members = [...entry.members].sort();
    const shown = members.length > 8 ? `${members.slice(0, 8).join(',')},+${members.length - 8}` : members.join(',');
    const where = this.mode === 'lard_r' ? ` set [${shown}],` : '';
    return `${this.mode}: ${target}${where} ${notes.join(', ')}`;
  }
}
