import { createServer } from 'node:net';

// Test servers take ports below Linux's ephemeral range (32768-60999). A port the kernel
// hands out for outgoing connections could be taken by a client socket while a node is
// down between kill and restart; a port below the range never is.
const LOW = 20_000;
const HIGH = 32_000;

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `count` distinct ports that were free on 127.0.0.1 a moment ago. */
export async function freePorts(count: number, avoid: (port: number) => boolean = () => false): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    if (tries > count * 50) throw new Error(`cannot find ${count} free ports between ${LOW} and ${HIGH}`);
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (!ports.has(port) && !avoid(port) && (await tryListen(port))) ports.add(port);
  }
  return [...ports];
}

/** `span` consecutive ports that were all free a moment ago (an app pool's range); returns the first. */
export async function freePortRange(span: number): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - span));
    let free = true;
    for (let p = base; p < base + span && free; p++) free = await tryListen(p);
    if (free) return base;
  }
  throw new Error(`cannot find ${span} consecutive free ports between ${LOW} and ${HIGH}`);
}

/** A base port for a demo cluster (it takes base..base+2001): free a moment ago, and the block stays below the ephemeral range. */
export async function freeDemoBase(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - 2100));
    if (await tryListen(base)) return base;
  }
  throw new Error(`cannot find a free demo base port between ${LOW} and ${HIGH - 2100}`);
}
