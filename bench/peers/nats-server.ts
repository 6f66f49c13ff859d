// The nats-server the critical bench measures. `sync_interval: always` (an fsync per message,
// as Cohort does) needs 2.10+; Debian bookworm ships 2.9.10. When the installed one is older,
// this takes nats-server from Debian's next release (trixie: a static Go binary) into a cache
// folder, without touching the system's packages. NATS_SERVER=path picks one by hand.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const MIRROR = 'http://deb.debian.org/debian';
const CACHE = join(homedir(), '.cache', 'cohort-bench');

function version(binary: string): [number, number] | undefined {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  const m = /v(\d+)\.(\d+)/.exec(out.stdout ?? '');
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const sh = (script: string) => spawnSync('sh', ['-c', script], { encoding: 'utf8' });

/** A nats-server binary of 2.10 or later if one can be had, else whatever is installed (the bench says why it skips). */
export function natsServer(progress: (msg: string) => void): string {
  if (process.env.NATS_SERVER) return process.env.NATS_SERVER;
  const installed = version('nats-server');
  if (installed && (installed[0] > 2 || installed[1] >= 10)) return 'nats-server';
  const cached = join(CACHE, 'nats-server');
  if (existsSync(cached) && version(cached)) return cached;
  progress(`nats-server ${installed ? installed.join('.') : 'missing'} cannot fsync every message; fetching nats-server from Debian trixie into ${CACHE}`);
  mkdirSync(CACHE, { recursive: true });
  const index = sh(`curl -fsS ${MIRROR}/dists/trixie/main/binary-amd64/Packages.xz | xz -d | awk '/^Package: nats-server$/{p=1} p&&/^Filename:/{print $2; exit}'`);
  const file = index.stdout.trim();
  if (index.status !== 0 || !file.endsWith('.deb')) {
    progress(`could not read Debian's package index (${index.stderr.trim() || 'no nats-server'}); install nats-server 2.10+ and set NATS_SERVER`);
    return 'nats-server';
  }
  const deb = join(CACHE, 'nats-server.deb');
  const fetched = sh(`curl -fsS -o '${deb}' '${MIRROR}/${file}' && dpkg-deb --fsys-tarfile '${deb}' | tar -xO ./usr/sbin/nats-server > '${cached}' && chmod 755 '${cached}'`);
  if (fetched.status !== 0 || !version(cached)) {
    progress(`could not fetch ${file} (${fetched.stderr.trim()}); install nats-server 2.10+ and set NATS_SERVER`);
    return 'nats-server';
  }
  progress(`using ${file.split('/').at(-1)}`);
  return cached;
}
