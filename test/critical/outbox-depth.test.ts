import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CohortClient } from '../../src/client/client.ts';
import type { OutboxPeerStatus } from '../../src/critical/critical-service.ts';
import type { JournalEntry } from '../../src/journal/journal.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

// A peer down for long: the sender's outbox grows on disk, not in its heap.
const N = Number(process.env.CRITICAL_DEPTH_MESSAGES ?? 1_000_000);
const HEAP_LIMIT = 100 * 1024 * 1024;
const CONCURRENCY = 1000; // sends in flight from the app, so group commit batches them
// The heap is measured after a full collection: what the node keeps, not garbage not yet swept.
const GC_ENV = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc` };
const MB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

describe('a deep outbox', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }, { id: 'C' }], {
      link: { backoffMinMs: 100, backoffMaxMs: 1000 },
      critical: { waitMs: 100, retries: 0, retryDelayMs: 100 },
    });
    await cluster.start('A', GC_ENV); // B and C stay dead while A queues
  });
  after(() => cluster.destroy());

  const heapUsed = async (node: string) => {
    const m = (await (await cluster.client(node)).call(node, 'memory', { gc: true })) as { heapUsed: number; collected: boolean };
    assert.ok(m.collected, 'the node runs without --expose-gc');
    return m.heapUsed;
  };
  const depth = async (client: CohortClient) => ((await client.call('A', 'outbox.status')) as { peers: OutboxPeerStatus[] }).peers.find((p) => p.peer === 'B')!.depth;

  it('a queue longer than the window in memory drains in order, newer messages behind it', async () => {
    const client = await cluster.client('A');
    const send = (n: number) => client.critical('C', 'journal.append', { stream: 'paged', entry: { n } });
    const first = await Promise.all(Array.from({ length: 6000 }, (_, i) => send(i + 1)));
    assert.ok(first.every((r) => r.status === 'delayed'));
    await cluster.start('C');
    const newer = await Promise.all(Array.from({ length: 200 }, (_, i) => send(6001 + i)));
    const seqOf = new Map([...first, ...newer].map((r, i) => [i + 1, Number(r.id.split('.').at(-1))]));
    let entries: JournalEntry[] = [];
    await waitFor('all 6200 on C', async () => {
      entries = ((await (await cluster.client('C')).call('C', 'journal.read', { stream: 'paged', limit: 10_000 })) as { entries: JournalEntry[] }).entries;
      return entries.length >= 6200;
    }, 30_000, 50);
    const seqs = entries.map((e) => seqOf.get((e.entry as { n: number }).n)!);
    assert.equal(new Set(seqs).size, 6200, 'every message once');
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), 'in outbox order');
  });

  it(`${N} messages queued for a dead peer keep the sender's heap under ${MB(HEAP_LIMIT)}; delivery resumes in order`, async () => {
    const client = await cluster.client('A');
    let sent = 0;
    let maxHeap = 0;
    const started = performance.now();
    const sampling = setInterval(() => void heapUsed('A').then((h) => (maxHeap = Math.max(maxHeap, h)), () => {}), 500);
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (sent < N) {
          const n = ++sent;
          const r = await client.critical('B', 'journal.append', { stream: 'deep', entry: { n } });
          assert.equal(r.status, 'delayed');
        }
      }));
    } finally {
      clearInterval(sampling);
    }
    const enqueueS = (performance.now() - started) / 1000;
    assert.equal(await depth(client), N);
    const queuedHeap = await heapUsed('A');
    maxHeap = Math.max(maxHeap, queuedHeap);
    console.log(`queued ${N} in ${enqueueS.toFixed(1)} s (${Math.round(N / enqueueS)}/s); A's heap: ${MB(queuedHeap)} after, ${MB(maxHeap)} at most while queueing`);
    assert.ok(maxHeap < HEAP_LIMIT, `A's heap reached ${MB(maxHeap)} with ${N} messages queued`);

    // A restart must not read the whole outbox into memory either.
    await cluster.kill('A');
    const restarted = performance.now();
    await cluster.start('A', GC_ENV);
    const fresh = await cluster.client('A');
    assert.equal(await depth(fresh), N);
    const restartHeap = await heapUsed('A');
    console.log(`A restarted with ${N} queued in ${((performance.now() - restarted) / 1000).toFixed(1)} s; heap ${MB(restartHeap)}`);
    assert.ok(restartHeap < HEAP_LIMIT, `A's heap is ${MB(restartHeap)} after a restart with ${N} messages queued`);

    // B comes back: the head of the queue arrives first, in order.
    await cluster.start('B');
    const head = 5000;
    let entries: JournalEntry[] = [];
    await waitFor(`the first ${head} messages on B`, async () => {
      entries = ((await (await cluster.client('B')).call('B', 'journal.read', { stream: 'deep', limit: head })) as { entries: JournalEntry[] }).entries;
      return entries.length === head;
    }, 60_000, 100);
    assert.deepEqual(entries.map((e) => (e.entry as { n: number }).n), Array.from({ length: head }, (_, i) => i + 1));
    assert.ok((await depth(fresh)) < N);
  });
});
