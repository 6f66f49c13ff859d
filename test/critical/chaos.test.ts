import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { localSocketPath } from '../../src/config/host-table.ts';
import type { OutboxPeerStatus } from '../../src/critical/critical-service.ts';
import { TestCluster } from '../harness/cluster.ts';
import { pick, seededRandom } from '../harness/random.ts';
import { waitFor } from '../harness/wait.ts';

// Sizes come from the environment; the defaults are what CI runs.
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 1e9));
const CYCLES = Number(process.env.CHAOS_CYCLES ?? 20);
const MESSAGES = Number(process.env.CHAOS_MESSAGES ?? 1000);
const NODES = ['A', 'B', 'C', 'D'];
const WORKERS = NODES.length * 2; // two app processes on each node
const SENDER = fileURLToPath(new URL('../harness/critical-sender.ts', import.meta.url));

const FAULTS = ['kill_receiver', 'crash_outbox_written', 'crash_sent', 'crash_acked', 'cut', 'stall', 'kill_both'] as const;
type Fault = (typeof FAULTS)[number];

interface Line { n: number; to: string; t: 'attempt' | 'ok' | 'delayed' | 'failed'; code?: string }

describe(`critical messages under chaos (seed ${SEED}, ${CYCLES} fault cycles, >= ${MESSAGES} messages)`, () => {
  let cluster: TestCluster;
  const workers: ChildProcess[] = [];
  const random = seededRandom(SEED);

  before(async () => {
    cluster = await TestCluster.create(NODES.map((id) => ({ id, proxied: true })), {
      link: { heartbeatMs: 250, deadAfterMs: 1000, connectTimeoutMs: 1500, backoffMinMs: 50, backoffMaxMs: 500 },
      critical: { waitMs: 300, retries: 1, retryDelayMs: 50 },
    });
    await cluster.startAll();
    await waitFor('links up', () => cluster.linksUp());
  });
  after(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await cluster.destroy();
  });

  it('loses nothing, applies nothing twice, keeps per-peer order', async () => {
    const stopFile = join(cluster.dir, 'stop-senders');
    const outFile = (w: number) => join(cluster.dir, `sender-${w}.jsonl`);
    for (let w = 0; w < WORKERS; w++) {
      const node = NODES[w % NODES.length];
      const targets = NODES.filter((n) => n !== node).join(',');
      workers.push(spawn(process.execPath, [SENDER, '--socket', localSocketPath(cluster.table, node), '--worker', `w${w}`, '--targets', targets,
        '--out', outFile(w), '--seed', String(SEED + w), '--interval', '15', '--stop', stopFile, '--min', String(Math.ceil(MESSAGES / WORKERS))], { stdio: 'inherit' }));
    }
    const exited = workers.map((w) => new Promise((r) => w.once('exit', r)));

    let longestRecovery = 0;
    const faultsSeen = new Map<Fault, number>();
    const pause = (min: number, max: number) => new Promise((r) => setTimeout(r, min + random() * (max - min)));
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const fault = FAULTS[cycle % FAULTS.length];
      faultsSeen.set(fault, (faultsSeen.get(fault) ?? 0) + 1);
      const node = pick(random, NODES);
      await pause(50, 300); // let traffic flow between faults
      switch (fault) {
        case 'kill_receiver':
          await cluster.kill(node);
          await pause(100, 800);
          await cluster.start(node);
          break;
        case 'crash_outbox_written':
        case 'crash_sent':
        case 'crash_acked': {
          // The node kills itself (SIGKILL) at that point in its sending path.
          await cluster.kill(node);
          await cluster.start(node, { COHORT_CRASH_POINTS: `${fault.slice('crash_'.length)}:0.05` }, { mayDie: true });
          if (!(await cluster.exited(node, 4000))) await cluster.kill(node);
          await cluster.start(node);
          break;
        }
        case 'cut':
          cluster.proxy(node).cut();
          break;
        case 'stall':
          cluster.proxy(node).stall();
          await pause(300, 1500);
          cluster.proxy(node).resume();
          break;
        case 'kill_both': {
          const other = pick(random, NODES.filter((n) => n !== node));
          await Promise.all([cluster.kill(node), cluster.kill(other)]);
          await pause(100, 600);
          await Promise.all([cluster.start(node), cluster.start(other)]);
          break;
        }
      }
      const healed = Date.now();
      await waitFor(`links up after ${fault} of ${node} (cycle ${cycle})`, async () => NODES.every((n) => cluster.running(n)) && cluster.linksUp(), 20_000);
      longestRecovery = Math.max(longestRecovery, Date.now() - healed);
    }

    writeFileSync(stopFile, '');
    await Promise.all(exited);
    await waitFor('every outbox drained', async () => {
      for (const n of NODES) {
        const s = (await (await cluster.client(n)).call(n, 'outbox.status')) as { peers: OutboxPeerStatus[] };
        if (s.peers.some((p) => p.depth > 0)) return false;
      }
      return true;
    }, 60_000, 100);

    // What the app processes saw.
    const attempted = new Set<string>();
    const accepted = new Set<string>();
    let sent = 0;
    for (let w = 0; w < WORKERS; w++) {
      for (const line of readFileSync(outFile(w), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line)) {
        const key = `w${w}:${line.n}`;
        if (line.t === 'attempt') {
          attempted.add(key);
          sent++;
        } else if (line.t === 'ok' || line.t === 'delayed') accepted.add(key);
      }
    }
    // What the receivers applied, in their order.
    const applied = new Map<string, number>();
    let outOfOrder = 0;
    for (const node of NODES) {
      const entries = await cluster.journal(node, 'chaos');
      const lastN = new Map<string, number>();
      for (const e of entries) {
        const { w, n } = e.entry as { w: string; n: number };
        const key = `${w}:${n}`;
        applied.set(key, (applied.get(key) ?? 0) + 1);
        if ((lastN.get(w) ?? 0) >= n) outOfOrder++;
        lastN.set(w, n);
      }
    }
    const lost = [...accepted].filter((k) => !applied.has(k));
    const duplicates = [...applied].filter(([, count]) => count > 1).map(([k]) => k);
    const unexpected = [...applied.keys()].filter((k) => !attempted.has(k));
    const summary = {
      seed: SEED, cycles: CYCLES, faults: Object.fromEntries(faultsSeen), sent, accepted: accepted.size, applied: applied.size,
      lost: lost.length, duplicates: duplicates.length, unexpected: unexpected.length, out_of_order: outOfOrder, longest_recovery_ms: longestRecovery,
    };
    console.log(`chaos: ${JSON.stringify(summary)} (replay with CHAOS_SEED=${SEED})`);
    assert.ok(sent >= MESSAGES, `sent ${sent} < ${MESSAGES}`);
    assert.deepEqual(lost, [], `lost (accepted but never applied), seed ${SEED}`);
    assert.deepEqual(duplicates, [], `applied twice, seed ${SEED}`);
    assert.deepEqual(unexpected, [], `applied but never sent, seed ${SEED}`);
    assert.equal(outOfOrder, 0, `out of order, seed ${SEED}`);
  });
});
