import { readdirSync, readFileSync } from 'node:fs';

/**
 * Still holding what it had open (its listening sockets above all): there, and not a zombie whose
 * threads have all exited. A killed Node process's main thread turns zombie first while its other
 * threads still exit, and its sockets close only with the last of them: until then a connection
 * to its port is accepted (and then reset), not refused.
 */
export function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat[stat.lastIndexOf(')') + 2] !== 'Z') return true;
    return readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}
