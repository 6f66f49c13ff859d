import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

// The receiver holds a sender's messages after one of them failed to commit, waiting for
// it to be sent again. If the sender never sends it again (here its outbox row is found
// damaged at restart and set aside), waiting is pointless: the sender's next message says
// which of its messages is the oldest it still has, and the hold must go.
describe('a held message the sender gave up on', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }], {
      // A generous dead-after: a stall must not drop the link (A would resend early) before the kill.
      link: { heartbeatMs: 1000, deadAfterMs: 10_000, backoffMinMs: 100, backoffMaxMs: 1000 },
      // A long retry pause: A must not resend the failed message before the test kills it.
      critical: { waitMs: 300, retries: 2, retryDelayMs: 60_000 },
    });
    // Exactly one fault: B's first commit once ready, the one that holds A's first message.
    await cluster.start('B', { COHORT_FAIL_COMMIT: '1', COHORT_FAULT_LIMIT: '1' });
    await cluster.start('A');
    await waitFor('links up', () => cluster.linksUp());
  });
  after(() => cluster.destroy());

  const journal = async (stream: string) => (await cluster.journal('B', stream)).map((e) => e.entry);
  const append = async (n: number) => (await cluster.client('A')).critical('B', 'journal.append', { stream: 'gone', entry: { n } });

  it('does not refuse the later messages forever', async () => {
    const first = await append(1);
    assert.equal(first.status, 'delayed');
    await waitFor('B holds A', () => /"event":"critical_hold","peer":"A"/.test(cluster.log('B')));
    await cluster.kill('A');
    // A damaged row, as a failing disk leaves it: its checksum no longer matches.
    const db = new DatabaseSync(join(cluster.table.dataDir, 'A', 'node.db'));
    db.prepare('UPDATE outbox SET crc = crc + 1 WHERE seq = ?').run(Number(first.id.split('.').at(-1)));
    db.close();
    await cluster.start('A');
    assert.match(cluster.log('A'), /"event":"outbox_corrupt"/, 'A set the held message aside');

    await append(2);
    await waitFor('the next message applied', async () => (await journal('gone')).length === 1, 5000);
    assert.deepEqual(await journal('gone'), [{ n: 2 }]);
    await waitFor('B logs the hold lifted', () => /"event":"critical_hold_lifted","peer":"A","mid":"[0-9a-f]+\.\d+","why":"sender_moved_on"/.test(cluster.log('B')));
  });
});
