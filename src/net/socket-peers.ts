import { execFile } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';

// Which processes hold the other end of a UNIX socket connection this process accepted. Node has
// no SO_PEERCRED; on Linux the kernel's sock_diag says which socket is a socket's peer, and `ss`
// (iproute2) reads it and which processes hold each socket: `ss -xpn` prints, per socket,
// "... LOCAL-ADDRESS INODE PEER-ADDRESS PEER-INODE users:(("comm",pid=P,fd=F),...)".
// Its text is partly the peer's to choose (a bound name may hold spaces and newlines, a process
// name quotes): lines are read from their end, and anything that could be forged only ever adds
// candidates, never removes the real ones; a conflict (two peers for our socket) is "unknown".

export const SS = ['/usr/bin/ss', '/bin/ss', '/usr/sbin/ss', '/sbin/ss'].find((p) => existsSync(p));
const SS_TIMEOUT_MS = 5000;
/** More processes than this sharing one connection: not worth telling apart (unknown). */
const MAX_HOLDERS = 64;

export interface Holder {
  pid: number;
  fd: number;
}

/** The processes at the other end, with the peer socket's inode; or why they cannot be known. */
export type PeerLookup = { holders: Holder[]; peerInode: number } | { unknown: string };

interface Row {
  peer: number;
  holders: Holder[];
}

/** The tail of a row, from its last "INODE ADDRESS INODE users:((": before it may be a name with spaces. */
const ROW_TAIL = /^.*\s(\d+)\s+\S+\s+(\d+)\s+users:\(\((.*)$/;
const HOLDER = /pid=(\d+),fd=(\d+)\)/g;

/** Rows by their socket's inode (a forged line may add a second row for an inode). */
export function parseSs(text: string): Map<number, Row[]> {
  const rows = new Map<number, Row[]>();
  for (const line of text.split('\n')) {
    const m = ROW_TAIL.exec(line);
    if (!m) continue;
    const holders = [...m[3].matchAll(HOLDER)].map((h) => ({ pid: Number(h[1]), fd: Number(h[2]) }));
    const inode = Number(m[1]);
    rows.set(inode, [...(rows.get(inode) ?? []), { peer: Number(m[2]), holders }]);
  }
  return rows;
}

/** What `ss -xpn` says of our accepted socket (inode, fd): its peer, and who holds that. */
export function peerOf(rows: Map<number, Row[]>, inode: number, fd: number): PeerLookup {
  const ours = (rows.get(inode) ?? []).filter((r) => r.holders.some((h) => h.pid === process.pid && h.fd === fd));
  const peers = new Set(ours.map((r) => r.peer));
  if (peers.size !== 1) return { unknown: peers.size === 0 ? 'ss does not list this connection' : 'ss names more than one peer for this connection' };
  const peerInode = [...peers][0];
  const theirs = (rows.get(peerInode) ?? []).filter((r) => r.peer === inode);
  const holders = theirs.flatMap((r) => r.holders);
  if (holders.length === 0) return { unknown: 'no process holding the other end can be seen (it is gone, or another user\'s)' };
  if (holders.length > MAX_HOLDERS) return { unknown: `more than ${MAX_HOLDERS} processes hold the other end` };
  return { holders, peerInode };
}

interface Waiter {
  inode: number;
  fd: number;
  resolve: (r: PeerLookup) => void;
}

/**
 * Looks up the peers of accepted connections, one `ss` run at a time: connections accepted while
 * one runs share the next run (a flood of connections costs one run at a time, not one each).
 */
export class SocketPeers {
  private waiting: Waiter[] = [];
  private running = false;

  lookup(socket: Socket): Promise<PeerLookup> {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (!SS) return Promise.resolve({ unknown: 'ss (iproute2) is not installed' });
    if (typeof fd !== 'number' || fd < 0) return Promise.resolve({ unknown: 'the connection has no file descriptor' });
    let inode: number;
    try {
      const link = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (!link) return Promise.resolve({ unknown: 'the connection is not a socket' });
      inode = Number(link[1]);
    } catch (err) {
      return Promise.resolve({ unknown: `cannot read /proc/self/fd: ${(err as Error).message}` });
    }
    return new Promise((resolve) => {
      this.waiting.push({ inode, fd, resolve });
      this.runSoon();
    });
  }

  private runSoon(): void {
    if (this.running || this.waiting.length === 0) return;
    this.running = true;
    const batch = this.waiting;
    this.waiting = [];
    execFile(SS!, ['-xpn'], { timeout: SS_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      this.running = false;
      if (err) for (const w of batch) w.resolve({ unknown: `ss failed: ${err.message}` });
      else {
        const rows = parseSs(stdout);
        for (const w of batch) w.resolve(peerOf(rows, w.inode, w.fd));
      }
      this.runSoon();
    });
  }
}
