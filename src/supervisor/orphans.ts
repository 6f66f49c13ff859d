import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';

/**
 * Kills the app processes an earlier run of this node left behind. The kernel kills an app's
 * own process when its node dies (pdeathsig), but not what that process forked: after a
 * kill -9 of the node those live on. Each carries the environment the node gave its
 * instance (COHORT_NODE, COHORT_CONFIG, COHORT_INSTANCE), which is how they are found.
 */
export function reapOrphans(node: string, tableFile: string, log: Logger): number {
  const mine = [`COHORT_NODE=${node}`, `COHORT_CONFIG=${tableFile}`];
  let killed = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  } catch {
    return 0; // not Linux: nothing to look at
  }
  for (const pid of pids) {
    let env: string[];
    try {
      env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    } catch {
      continue; // gone, or not ours to read
    }
    if (!mine.every((v) => env.includes(v))) continue;
    const instance = env.find((v) => v.startsWith('COHORT_INSTANCE='));
    if (!instance) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
      killed++;
      log.warn({ event: 'app_orphan_killed', pid: Number(pid), instance: instance.slice('COHORT_INSTANCE='.length) }, `killed pid ${pid}, left behind by an earlier run of this node`);
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}
