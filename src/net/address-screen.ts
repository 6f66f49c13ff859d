import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { HostTable } from '../config/host-table.ts';
import { RecentMap } from '../recent-map.ts';

/** Raw-transfer connections a node keeps open to one peer (a few transfers at once, no handshake each). */
export const RAW_SOCKETS_PER_PEER = 4;

/** Connections from addresses the host table does not have (a new node bringing its table): at most this many a second, this many at once, one per address. */
const STRANGERS_PER_S = 1;
const STRANGERS_AT_ONCE = 4;

/**
 * A link port's first look at a connection, as plain TCP before any TLS work: only the host
 * table's addresses, and only a few connections at a time from each, so strangers cannot burn
 * handshakes. Where a dialer may bring a newer table (`strangers`), a connection from an
 * address the table lacks is let through now and then: its hello must bring a table naming it.
 */
export class AddressScreen {
  private readonly table: HostTable;
  private readonly log: Logger;
  private readonly strangers: boolean;
  /** The addresses peers may connect from, with how many nodes share each (null: a host name did not resolve, so no screening). */
  private allowed: Map<string, number> | null = null;
  /** Open connections per remote address, welcomed or not. */
  private readonly perAddress = new Map<string, number>();
  /** When each turned-away address was last logged (one line a minute each, not one a connection); the least recent forgotten past 10 000. */
  private readonly loggedRefusals = new RecentMap<string, number>(10_000);
  /** Connections open from addresses not in the host table, and when the last one was let in. */
  private strangersOpen = 0;
  private strangerAt = 0;

  constructor(table: HostTable, log: Logger, opts: { strangers: boolean }) {
    this.table = table;
    this.log = log;
    this.strangers = opts.strangers;
  }

  /** The host table's addresses, now (at listen, and when a version changes the nodes). */
  async refresh(): Promise<void> {
    this.allowed = await peerAddresses(this.table, this.log);
  }

  /** Whether a new connection may go on to TLS; one that may not is closed here. */
  admit(raw: Socket): boolean {
    const ip = normalizeIp(raw.remoteAddress ?? '');
    const nodesThere = this.allowed?.get(ip);
    if (this.allowed && nodesThere === undefined && !this.letStrangerIn(raw, ip)) return this.turnAway(raw, ip, 'not a node address in the host table');
    // Each node there keeps one link to us (reconnects overlap for a moment) and up to
    // RAW_SOCKETS_PER_PEER raw-transfer connections, kept open between transfers.
    const cap = 8 + (2 + RAW_SOCKETS_PER_PEER) * (nodesThere ?? 1);
    const open = (this.perAddress.get(ip) ?? 0) + 1;
    if (open > cap) return this.turnAway(raw, ip, `more than ${cap} connections at once from one address`);
    this.perAddress.set(ip, open);
    raw.once('close', () => {
      const n = (this.perAddress.get(ip) ?? 1) - 1;
      if (n > 0) this.perAddress.set(ip, n);
      else this.perAddress.delete(ip);
    });
    return true;
  }

  /** Whether the table (as it is now) has this address: a connection from elsewhere was let in as a stranger. */
  known(remote: string): boolean {
    return !this.allowed || this.allowed.has(normalizeIp(remote));
  }

  /** A connection from an address the table lacks, where a dialer may bring a newer table: a few, and not often. */
  private letStrangerIn(raw: Socket, ip: string): boolean {
    const now = Date.now();
    if (!this.strangers || this.strangersOpen >= STRANGERS_AT_ONCE || this.perAddress.has(ip) || now - this.strangerAt < 1000 / STRANGERS_PER_S) return false;
    this.strangerAt = now;
    this.strangersOpen++;
    raw.once('close', () => this.strangersOpen--);
    return true;
  }

  private turnAway(raw: Socket, ip: string, why: string): false {
    raw.destroy();
    const now = Date.now();
    if (now - (this.loggedRefusals.get(ip) ?? 0) < 60_000) return false;
    this.loggedRefusals.set(ip, now);
    this.log.warn({ event: 'link_turned_away', remote: ip, why }, `connection from ${ip} closed before TLS: ${why} (logged once a minute per address)`);
    return false;
  }
}

export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/** Every address a peer of the host table may connect from, with how many nodes share it. */
async function peerAddresses(table: HostTable, log: Logger): Promise<Map<string, number> | null> {
  const counts = new Map<string, number>();
  for (const node of table.nodes) {
    let addresses: string[];
    if (isIP(node.host)) {
      addresses = [node.host];
    } else {
      try {
        addresses = (await lookup(node.host, { all: true })).map((a) => a.address);
      } catch (err) {
        log.warn({ event: 'link_screening_off', host: node.host, err: (err as Error).message }, `cannot resolve ${node.host}; links are not screened by address`);
        return null;
      }
    }
    for (const a of new Set(addresses.map(normalizeIp))) counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  return counts;
}
