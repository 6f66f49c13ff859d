import { spawnSync } from 'node:child_process';
import { progress } from '../stats.ts';

/**
 * Installs the Debian packages a benchmark's peers need when their commands are missing
 * (as root, from Debian's archive), or exits 2 naming the exact command to run.
 * tools: command name -> package (e.g. { nginx: 'nginx-light' }).
 */
export function ensureDebianTools(bench: string, tools: Record<string, string>): void {
  const missing = Object.keys(tools).filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (!missing.length) return;
  const packages = missing.map((t) => tools[t]).join(' ');
  progress(bench, `installing ${packages} from Debian's packages`);
  const r = spawnSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages}`], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`${bench}: cannot install the peers; run: apt-get install -y ${packages}\n`);
    process.exit(2);
  }
}
