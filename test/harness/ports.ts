import { createServer } from 'node:net';
import { demoPorts } from '../../src/cli/demo-host-table.ts';

// Test servers take ports below Linux's ephemeral range (32768-60999). A port the kernel
// hands out for outgoing connections could be taken by a client socket while a node is
// down between kill and restart; a port below the range never is.
// `npm test` and `npm run test:unit` run two files at a time (--test-concurrency=2); each worker
// (NODE_TEST_WORKER_ID, 1-based) takes its own slice of the range, so two files never pick the
// same port (a demo alone spans 2,002). More workers than slices would share: refused.
const [LOW, HIGH] = portSlice(20_000, 32_000, Number(process.env.NODE_TEST_WORKER_ID) || 0, 2);

function portSlice(low: number, high: number, worker: number, workers: number): [number, number] {
  if (worker > workers) throw new Error(`test worker ${worker}: the port range has ${workers} slices; run at most ${workers} files at a time (--test-concurrency=${workers})`);
  if (worker < 1) return [low, high];
  const size = Math.floor((high - low) / workers);
  return [low + (worker - 1) * size, low + worker * size];
}

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * What this process has handed out already, as [first, last] ranges: a port is free until a
 * node binds it, so two calls before anything starts (two app pools' ranges, say) would
 * otherwise get the same one.
 */
const handedOut: [number, number][] = [];
const taken = (first: number, last: number) => handedOut.some(([a, b]) => first <= b && a <= last);
const handOut = (first: number, last: number) => void handedOut.push([first, last]);

/** `count` distinct ports that were free on 127.0.0.1 a moment ago, none handed out before. */
export async function freePorts(count: number, avoid: (port: number) => boolean = () => false): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    if (tries > count * 50) throw new Error(`cannot find ${count} free ports between ${LOW} and ${HIGH}`);
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (!ports.has(port) && !avoid(port) && !taken(port, port) && (await tryListen(port))) ports.add(port);
  }
  for (const p of ports) handOut(p, p);
  return [...ports];
}

/** `span` consecutive ports that were all free a moment ago (an app pool's range), none handed out before; returns the first. */
export async function freePortRange(span: number): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - span));
    if (taken(base, base + span - 1)) continue;
    let free = true;
    for (let p = base; p < base + span && free; p++) free = await tryListen(p);
    if (free) {
      handOut(base, base + span - 1);
      return base;
    }
  }
  throw new Error(`cannot find ${span} consecutive free ports between ${LOW} and ${HIGH}`);
}

/** The ports a demo cluster on `base` takes (src/cli/demo-host-table.ts), as [first, last] ranges. */
function demoRanges(base: number): [number, number][] {
  const p = demoPorts(base);
  return [...p.links.map((x) => [x, x] as [number, number]), ...p.http.map((x) => [x, x] as [number, number]), ...p.apps.map((x) => [x, x + 9] as [number, number]), [p.front, p.redirect]];
}

/** A base port for a demo cluster (its ports lie in base..base+2002): free a moment ago, none handed out before, the block below the ephemeral range. */
export async function freeDemoBase(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - 2100));
    const ranges = demoRanges(base);
    if (!ranges.some(([a, b]) => taken(a, b)) && (await tryListen(base))) {
      for (const [a, b] of ranges) handOut(a, b);
      return base;
    }
  }
  throw new Error(`cannot find a free demo base port between ${LOW} and ${HIGH - 2100}`);
}
