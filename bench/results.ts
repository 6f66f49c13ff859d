// Every benchmark ends through here: its figures, with the date, the commit measured, the machine
// (cores, CPU, kernel, memory) and the versions of the peers it ran against, printed as the last line and appended to
// bench/results/<bench>.jsonl, so docs and notes quote saved lines, not memory.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

/** The commit measured, marked `-dirty` when the tree has changes not yet committed. */
function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench', 'examples'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** The first line a command prints about its version (stdout or stderr: wrk and nginx differ). */
export function commandVersion(cmd: string, args: string[] = ['-v']): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return 'missing';
  return `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).find(Boolean) ?? 'unknown';
}

/** An npm package's installed version, read from its own package.json. */
export function packageVersion(name: string): string {
  const file = `${ROOT}node_modules/${name}/package.json`;
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : 'missing';
}

/** The machine a figure was measured on: ratios from a 2-core machine are not a 16-core one's. */
function machine(): { cores: number; cpu: string; kernel: string; memory_gib: number } {
  return { cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', kernel: release(), memory_gib: Math.round(totalmem() / 2 ** 30) };
}

/** Prints the figures as one JSON object (the benchmark's last line) and appends it to bench/results/. */
export function recordResult(bench: string, figures: Record<string, unknown>, peers: Record<string, string> = {}): void {
  const line = JSON.stringify({ ...figures, bench, date: new Date().toISOString(), commit: commit(), node: process.version, machine: machine(), peers });
  mkdirSync(RESULTS, { recursive: true });
  appendFileSync(`${RESULTS}${bench}.jsonl`, `${line}\n`);
  console.log(line);
}
