import { readFileSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Caller } from '../commands/registry.ts';
import { SocketPeers } from '../net/socket-peers.ts';

/** Who a local socket connection is, and why the node thinks so (for a refusal's message). */
export interface Identified {
  caller: Caller;
  why: string;
}

/** Ancestors walked at most (a loop in /proc cannot hold us). */
const MAX_DEPTH = 64;
/** What the supervisor puts in every app instance's environment (instance-starter.ts). */
const INSTANCE_VAR = 'COHORT_INSTANCE=';

/**
 * Tells the operator from an app on the operator socket, once per connection: the processes at
 * the other end (socket-peers.ts) are an app's if one of them, or one of their ancestors, is a
 * process this node started (only app instances are) or carries an app instance's COHORT_INSTANCE
 * (an app of another node on this machine).
 *
 * A connection whose peer cannot be identified (ss missing or failing, the process gone, another
 * user's) is treated as an app's. The other way round, any local process could pass for the
 * operator by making itself hard to see, and the operator commands are exactly what an app must
 * not reach; the operator's own tools are told why they were refused (install iproute2) and can
 * use nothing else, while an app loses nothing it may do. What this cannot stop: code running as
 * the node's user that sets out to escape it (a double fork that also clears its environment),
 * which could as well read the node's keys or edit the host table. Only a user of the apps' own
 * stops that (the operator socket's mode, 0600, would close it to them); the supervisor does
 * not run apps as another user yet (README, "Local sockets").
 */
export class CallerIdentity {
  private readonly peers = new SocketPeers();

  async identify(socket: Socket): Promise<Identified> {
    const found = await this.peers.lookup(socket);
    if ('unknown' in found) return { caller: 'app', why: `its process cannot be identified (${found.unknown}), so it counts as an app's` };
    for (const { pid, fd } of found.holders) {
      const lineage = appLineage(pid);
      if (lineage) return { caller: 'app', why: lineage };
      // Checked after the walk: the pid still holds the socket, so it was not reused meanwhile.
      if (!holds(pid, fd, found.peerInode)) return { caller: 'app', why: `process ${pid} no longer holds the connection, so it counts as an app's` };
    }
    return { caller: 'operator', why: `process ${found.holders.map((h) => h.pid).join(', ')} is not an app's` };
  }
}

/** Why `pid` is an app's process, or undefined when it is not (an unreadable chain counts as an app's). */
export function appLineage(pid: number): string | undefined {
  if (pid === process.pid) return undefined; // the node itself (a front in the node's process)
  let current = pid;
  for (let depth = 0; depth < MAX_DEPTH && current > 1; depth++) {
    if (current === process.pid) return `process ${pid} was started by this node (only app instances are)`;
    const instance = instanceOf(current);
    if (instance) return current === pid ? `process ${pid} is app instance ${instance}` : `process ${pid} was started by app instance ${instance}`;
    const parent = parentOf(current);
    if (parent === undefined) return `process ${current} went away while process ${pid} was identified, so it counts as an app's`;
    current = parent;
  }
  return undefined;
}

/** The instance id in its environment, if the process is an app instance. */
function instanceOf(pid: number): string | undefined {
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return undefined; // another user's (init, sshd): not an app of this user; a gone one fails in parentOf
  }
  const entry = environ.split('\0').find((v) => v.startsWith(INSTANCE_VAR));
  return entry === undefined ? undefined : entry.slice(INSTANCE_VAR.length, INSTANCE_VAR.length + 100) || '(unnamed)';
}

/** Its parent's pid from /proc/<pid>/stat (the name in parentheses may hold anything: read after the last one). */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(parent) ? parent : undefined;
  } catch {
    return undefined;
  }
}

function holds(pid: number, fd: number, inode: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
  } catch {
    return false;
  }
}
