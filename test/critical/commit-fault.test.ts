import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestCluster } from '../harness/cluster.ts';
import { faultyPair } from '../harness/faulty-pair.ts';
import { waitFor } from '../harness/wait.ts';

// The receiver's group commit fails at random (COHORT_FAIL_COMMIT), as a failing disk
// would: the failed batch's messages hear con_lost while the batches behind them,
// already on the wire, reach the disk. Per-peer order must hold all the same.
const N = Number(process.env.CRITICAL_FAULT_MESSAGES ?? 10_000);
const FAIL_ODDS = process.env.CRITICAL_FAIL_COMMIT ?? '0.3';

describe('critical messages when the receiver fails to commit', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await faultyPair({ COHORT_FAIL_COMMIT: FAIL_ODDS });
  });
  after(() => cluster.destroy());
  const journal = (node: string, stream: string) => cluster.journal(node, stream);

  it(`an injected commit failure keeps per-peer order (${N} pipelined messages, commit fails with odds ${FAIL_ODDS})`, async () => {
    const client = await cluster.client('A');
    const results = await Promise.all(Array.from({ length: N }, (_, i) => client.critical('B', 'journal.append', { stream: 'faulty', entry: { n: i + 1 } })));
    assert.ok(results.every((r) => r.status === 'ok' || r.status === 'delayed'));
    // The outbox order is the order of the message ids' sequence numbers.
    const seqOf = new Map(results.map((r, i) => [i + 1, Number(r.id.split('.').at(-1))]));
    await waitFor('every message applied', async () => (await journal('B', 'faulty')).length >= N, 60_000, 50);
    const faults = cluster.log('B').split('\n').filter((l) => l.startsWith('commit fault')).length;
    assert.ok(faults > 0, 'no commit failed: the test proved nothing');
    const applied = (await journal('B', 'faulty')).map((e) => (e.entry as { n: number }).n);
    assert.equal(applied.length, N, 'nothing applied twice');
    assert.equal(new Set(applied).size, N, 'every message once');
    const seqs = applied.map((n) => seqOf.get(n)!);
    const backwards = seqs.filter((s, i) => i > 0 && s < seqs[i - 1]).length;
    assert.equal(backwards, 0, `${backwards} messages applied after a later one (${faults} failed commits)`);
  });
});
