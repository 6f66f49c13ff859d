import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestCluster } from '../harness/cluster.ts';
import { faultyPair } from '../harness/faulty-pair.ts';
import { waitFor } from '../harness/wait.ts';

// A statement inside the receiver's job fails the way a full or failing disk makes it fail
// (COHORT_FAIL_JOB: SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY after the job's writes), not at
// COMMIT. The disk is at fault, not the message: the sender must keep it and send it again,
// so nothing may reach the dead letters, nothing may be lost, and per-peer order must hold.
const N = Number(process.env.CRITICAL_JOB_FAULT_MESSAGES ?? 3000);
const FAIL_ODDS = process.env.CRITICAL_FAIL_JOB ?? '0.05';

describe('critical messages when a statement fails inside the receiver', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await faultyPair({ COHORT_FAIL_JOB: FAIL_ODDS });
  });
  after(() => cluster.destroy());
  const journal = (node: string, stream: string) => cluster.journal(node, stream);

  async function deadLetters(): Promise<number> {
    return ((await (await cluster.client('A')).call('A', 'outbox.status')) as { dead: number }).dead;
  }

  it(`a storage error inside a job is not a rejection (${N} pipelined messages, job fails with odds ${FAIL_ODDS})`, async () => {
    const client = await cluster.client('A');
    const results = await Promise.allSettled(Array.from({ length: N }, (_, i) => client.critical('B', 'journal.append', { stream: 'jobs', entry: { n: i + 1 } })));
    const refused = results.filter((r) => r.status === 'rejected' || (r.value.status !== 'ok' && r.value.status !== 'delayed'));
    // Fails fast, before waiting for deliveries that will never come.
    assert.equal(refused.length, 0, `${refused.length} senders heard a rejection, e.g. ${String((refused[0] as PromiseRejectedResult | undefined)?.reason)}`);
    assert.equal(await deadLetters(), 0, 'messages moved to the dead letters');
    const seqOf = new Map(results.map((r, i) => [i + 1, Number((r as PromiseFulfilledResult<{ id: string }>).value.id.split('.').at(-1))]));
    await waitFor('every message applied', async () => (await journal('B', 'jobs')).length >= N, 60_000, 50);
    const faults = cluster.log('B').split('\n').filter((l) => l.startsWith('job fault')).length;
    assert.ok(faults > 0, 'no job failed: the test proved nothing');
    const applied = (await journal('B', 'jobs')).map((e) => (e.entry as { n: number }).n);
    assert.equal(applied.length, N, 'nothing applied twice');
    assert.equal(new Set(applied).size, N, 'every message once');
    const seqs = applied.map((n) => seqOf.get(n)!);
    const backwards = seqs.filter((s, i) => i > 0 && s < seqs[i - 1]).length;
    assert.equal(backwards, 0, `${backwards} messages applied after a later one (${faults} failed jobs)`);
    assert.equal(await deadLetters(), 0, 'messages moved to the dead letters');
  });
});
