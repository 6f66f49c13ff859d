import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, readdirSync, readFileSync, statfsSync, statSync, truncateSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { certPaths } from '../certs/cluster-certs.ts';
import { nodeDataDir, type HostTable } from '../config/host-table.ts';
import type { Row } from './doctor.ts';

// `cohort doctor`'s checks of this machine: free disk under a node's data folder, the folder's
// size, the node's log file (rotated when too large), and the certificates' expiry.

export interface HostLimits {
  repair: boolean;
  progress: (line: string) => void;
  /** Warn below either; fail below half of either. */
  minFreePct: number;
  minFreeMb: number;
  /** 0: no bound. */
  maxDataMb: number;
  maxLogMb: number;
  certDays: number;
  /** Where node logs are looked for (besides the host table's folder and its logs/). */
  logDirs: string[];
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(bytes < 10 * MB ? 1 : 0)} MB`;

function treeBytes(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0; // gone meanwhile, or not ours to read
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(path);
    else if (entry.isFile()) {
      try {
        total += lstatSync(path).size;
      } catch {
        // a temporary file that went away meanwhile
      }
    }
  }
  return total;
}

export function checkDisk(table: HostTable, node: string, limits: HostLimits): Row[] {
  const dir = nodeDataDir(table, node);
  if (!existsSync(dir)) return [{ check: 'disk', node, status: 'fail', detail: `no data folder ${dir}` }];
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const pct = fs.blocks > 0 ? (100 * fs.bavail) / fs.blocks : 100;
  const freeText = `${mb(free)} free (${pct.toFixed(1)}%) under ${dir}`;
  const low = (factor: number) => pct < limits.minFreePct * factor || free < limits.minFreeMb * MB * factor;
  const rows: Row[] = [{ check: 'disk', node, status: low(0.5) ? 'fail' : low(1) ? 'warn' : 'ok', detail: `${freeText}${low(1) ? ` (bound: ${limits.minFreePct}% and ${limits.minFreeMb} MB)` : ''}` }];
  const size = treeBytes(dir);
  const over = limits.maxDataMb > 0 && size > limits.maxDataMb * MB;
  rows.push({ check: 'data size', node, status: over ? 'warn' : 'ok', detail: `${mb(size)} in ${dir}${over ? ` (bound ${limits.maxDataMb} MB)` : ''}` });
  return rows;
}

/** The node's log files that exist: `<id>.log` next to the host table, in its logs/ (the demo's), or in --log-dir. */
export function logFiles(table: HostTable, node: string, logDirs: string[]): string[] {
  const base = dirname(table.file);
  const dirs = [...new Set([base, join(base, 'logs'), ...logDirs])];
  return dirs.map((d) => join(d, `${node}.log`)).filter((f) => existsSync(f) && statSync(f).isFile());
}

/**
 * Linux: does any process hold `file` open for writing without O_APPEND? Such a writer would
 * keep writing at its old offset after a truncation (a sparse file), so the doctor leaves the
 * file alone. Null where /proc cannot tell.
 */
function writerWithoutAppend(file: string): boolean | null {
  if (!existsSync('/proc/self/fd')) return null;
  const target = statSync(file);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone meanwhile
      return null; // another user's process (or hidepid): it could be the writer, so /proc cannot tell
    }
    for (const fd of fds) {
      try {
        const s = statSync(`/proc/${pid}/fd/${fd}`);
        if (s.ino !== target.ino || s.dev !== target.dev) continue;
        const flags = parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
        const writes = (flags & 3) !== 0; // O_WRONLY or O_RDWR
        if (writes && (flags & 0o2000) === 0) return true; // O_APPEND missing
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return false;
}

/** A log over maxLogMb is copied to `<file>.1` and truncated (copytruncate: its writers append, so they go on at the new end). */
export function checkLogs(table: HostTable, node: string, limits: HostLimits): Row[] {
  const files = logFiles(table, node, limits.logDirs);
  if (files.length === 0) return [{ check: 'log', node, status: 'ok', detail: 'no log file found (the node logs to its stdout)' }];
  return files.map((file): Row => {
    const size = statSync(file).size;
    if (size <= limits.maxLogMb * MB) return { check: 'log', node, status: 'ok', detail: `${file}: ${mb(size)}` };
    const over = `${file}: ${mb(size)} (bound ${limits.maxLogMb} MB)`;
    if (!limits.repair) return { check: 'log', node, status: 'warn', detail: over };
    const unsafe = writerWithoutAppend(file);
    if (unsafe !== false) return { check: 'log', node, status: 'warn', detail: `${over}; ${unsafe ? 'a process writes it without O_APPEND' : '/proc cannot tell whether every writer appends'}, so it is not rotated here` };
    limits.progress(`${node}: rotating ${file} (${mb(size)}) to ${file}.1`);
    try {
      copyFileSync(file, `${file}.1`);
      truncateSync(file, 0);
    } catch (err) {
      return { check: 'log', node, status: 'fail', detail: `${over}; rotation failed: ${(err as Error).message}` };
    }
    return { check: 'log', node, status: 'repaired', detail: `${over}; rotated to ${file}.1 (the previous .1 replaced)` };
  });
}

/** The cluster CA and the node's certificate: warn within certDays of expiry, fail once expired or unreadable. */
export function checkCerts(table: HostTable, node: string, limits: HostLimits, now = Date.now()): Row[] {
  const paths = certPaths(table.tlsDir, node);
  return [['CA', paths.ca], [`${node}'s certificate`, paths.cert]].map(([what, file]): Row => {
    let validTo: number;
    try {
      validTo = Date.parse(new X509Certificate(readFileSync(file)).validTo);
    } catch (err) {
      return { check: 'cert', node, status: 'fail', detail: `${what} ${file}: ${(err as Error).message}` };
    }
    const days = (validTo - now) / 86_400_000;
    const when = `${what} valid until ${new Date(validTo).toISOString().slice(0, 10)}`;
    if (days < 0) return { check: 'cert', node, status: 'fail', detail: `${when}: expired (cohort certs init --force makes new ones)` };
    if (days < limits.certDays) return { check: 'cert', node, status: 'warn', detail: `${when}: ${Math.floor(days)} days left` };
    return { check: 'cert', node, status: 'ok', detail: `${when} (${Math.floor(days)} days)` };
  });
}
