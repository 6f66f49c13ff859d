import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { PostgresHome } from '../../../src/records/stores/postgres-home.ts';
import { FaultProxy } from '../../harness/fault-proxy.ts';
import { freePorts } from '../../harness/ports.ts';
import { TEST_PG_URL, testSchema } from '../../harness/postgres.ts';
import { homeStoreConformance } from './home-store-conformance.ts';

homeStoreConformance('PostgreSQL', async () => {
  const { schema, drop } = testSchema();
  const store = await PostgresHome.open({ url: TEST_PG_URL, schema });
  return { store, remove: async () => { await store.close(); await drop(); } };
});

// Critical messages to a home whose records are in PostgreSQL: their ids are kept in its
// transaction with their effect (issue 27), not in the node's inbox.
describe('PostgreSQL home: each message applied once', () => {
  let home: PostgresHome;
  let drop: () => Promise<void>;
  before(async () => {
    const s = testSchema();
    drop = s.drop;
    home = await PostgresHome.open({ url: TEST_PG_URL, schema: s.schema });
  });
  after(async () => {
    await home.close();
    await drop();
  });

  it('answers a second delivery with the first result, without applying it again', async () => {
    let runs = 0;
    const work = async ({ records }: { records: typeof home.records }) => {
      runs++;
      return { seq: await records.store('msu', 'ann', 'quiz', { try: runs }) };
    };
    assert.deepEqual(await home.once('J', 'inc.1', work), { seq: 1 });
    assert.deepEqual(await home.once('J', 'inc.1', work), { seq: 1 }, 'the first answer');
    assert.equal(runs, 1);
    assert.deepEqual(await home.once('K', 'inc.1', work), { seq: 2 }, 'the same id from another sender is another message');
    assert.deepEqual((await home.records.restore('msu', 'ann', 'quiz', 0, 10)).map((e) => e.data), [{ try: 1 }, { try: 2 }]);
  });

  it('applies one of two deliveries at once, and both hear its result', async () => {
    let runs = 0;
    const work = async ({ records }: { records: typeof home.records }) => {
      runs++;
      await new Promise((r) => setTimeout(r, 50)); // the second waits on the first's row
      return { stored: await records.put('msu', 'ann', 'race', { k: runs }) };
    };
    const [a, b] = await Promise.all([home.once('J', 'race.1', work), home.once('J', 'race.1', work)]);
    assert.deepEqual([a, b], [{ stored: 1 }, { stored: 1 }]);
    assert.equal(runs, 1);
  });

  it('keeps nothing of a message whose work failed: it is applied when it comes again', async () => {
    await assert.rejects(home.once('J', 'fail.1', async ({ records }) => {
      await records.put('msu', 'ann', 'half', { a: 1 });
      throw new Error('the command refused');
    }), /the command refused/);
    assert.deepEqual(await home.records.get('msu', 'ann', 'half', ['a']), {}, 'its first write rolled back');
    assert.deepEqual(await home.once('J', 'fail.1', async ({ records }) => ({ stored: await records.put('msu', 'ann', 'half', { a: 2 }) })), { stored: 1 });
    assert.deepEqual(await home.records.get('msu', 'ann', 'half', ['a']), { a: 2 });
  });

  it('applies a batch of messages in one transaction: one refused for good rolls back alone, a message twice in it is applied once', async () => {
    let runs = 0;
    const store = (data: unknown) => async ({ records }: { records: typeof home.records }) => {
      runs++;
      return records.store('msu', 'bea', 'batch', data);
    };
    const outcomes = await home.batch(() =>
      Promise.all([
        home.once('J', 'b.1', store('one')),
        home.once('J', 'b.2', async ({ records }) => {
          await records.put('msu', 'bea', 'batch-refused', { k: 1 });
          throw new Error('refused for good');
        }).catch((err: Error) => err.message),
        home.once('J', 'b.3', store('three')),
        home.once('J', 'b.1', store('one, sent again')),
      ]),
    );
    assert.deepEqual(outcomes, [1, 'refused for good', 2, 1]);
    assert.equal(runs, 2);
    assert.deepEqual((await home.records.restore('msu', 'bea', 'batch', 0, 10)).map((e) => e.data), ['one', 'three']);
    assert.deepEqual(await home.records.get('msu', 'bea', 'batch-refused', ['k']), {}, 'the refused one left nothing');
  });

  it('forgets ids applied before a time', async () => {
    await home.once('J', 'old.1', async () => 'old');
    const kept = await home.pruneApplied(Date.now() - 60_000);
    assert.equal(kept, 0, 'nothing that old');
    assert.ok((await home.pruneApplied(Date.now() + 1)) >= 1);
    assert.equal(await home.once('J', 'old.1', async () => 'again'), 'again', 'a pruned id is a new message (senders re-send only for less than the retention)');
  });
});

describe('PostgreSQL home: a server that cannot be reached', () => {
  let proxy: FaultProxy;
  let schema: string;
  let home: PostgresHome;
  let drop: () => Promise<void>;
  before(async () => {
    const [port] = await freePorts(1);
    const target = new URL(TEST_PG_URL);
    proxy = await FaultProxy.start(port, Number(target.port || 5432));
    target.port = String(port);
    const s = testSchema();
    drop = s.drop;
    schema = s.schema;
    proxy.refuse(true);
    home = new PostgresHome({ url: target.toString(), schema: s.schema });
  });
  after(async () => {
    await home.close();
    await proxy.close();
    await drop();
  });

  it('is con_lost while it cannot be reached (nothing applied: the sender tries again), and works once it can', async () => {
    await assert.rejects(home.prepare(), { code: 'con_lost' });
    assert.equal(home.status().ok, false);
    await assert.rejects(home.users.exists('msu', 'ann'), { code: 'con_lost' }, 'its tables are made at the first use that reaches it');
    await assert.rejects(home.once('J', 'down.1', async () => 'x'), { code: 'con_lost' });
    proxy.refuse(false);
    assert.equal(await home.users.exists('msu', 'ann'), false);
    assert.equal(home.status().ok, true);
    assert.equal(await home.once('J', 'down.1', async () => 'applied'), 'applied');
    proxy.refuse(true);
    proxy.cut();
    await assert.rejects(home.users.exists('msu', 'ann'), { code: 'con_lost' });
    assert.equal(home.status().ok, false, 'unsound again while it cannot be reached');
    proxy.refuse(false);
    await home.users.exists('msu', 'ann');
    assert.equal(home.status().ok, true);
  });

  it('a probe tells whether it answers while nothing else runs', async () => {
    proxy.refuse(false);
    await home.probe();
    assert.equal(home.status().ok, true);
    proxy.refuse(true);
    proxy.cut();
    await home.probe();
    assert.equal(home.status().ok, false);
    proxy.refuse(false);
    await home.probe();
    assert.equal(home.status().ok, true);
  });

  it('makes its tables again when they were dropped under it (the write in between is con_lost: sent again)', async () => {
    proxy.refuse(false);
    await home.records.put('msu', 'ann', 'dropped', { a: 1 });
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    try {
      await admin.query(`DROP SCHEMA ${pg.escapeIdentifier(schema)} CASCADE`);
    } finally {
      await admin.end();
    }
    await assert.rejects(home.records.put('msu', 'ann', 'dropped', { a: 2 }), { code: 'con_lost' });
    assert.equal(await home.records.put('msu', 'ann', 'dropped', { a: 3 }), 1);
    assert.deepEqual(await home.records.get('msu', 'ann', 'dropped', ['a']), { a: 3 });
  });

  it('a connection cut in the middle of a transaction applies nothing and is con_lost', async () => {
    proxy.refuse(false);
    await home.prepare();
    const work = async ({ records }: { records: typeof home.records }) => {
      await records.put('msu', 'ann', 'cut', { a: 1 });
      proxy.cut();
      return records.put('msu', 'ann', 'cut', { b: 2 });
    };
    await assert.rejects(home.once('J', 'cut.1', work), { code: 'con_lost' });
    assert.deepEqual(await home.records.get('msu', 'ann', 'cut', ['a', 'b']), {}, 'its first write rolled back; the pool made a new connection');
    const batch = home.batch(async () => {
      await home.once('J', 'cut.2', async ({ records }) => records.put('msu', 'ann', 'cut', { c: 3 }));
      proxy.cut();
      return home.once('J', 'cut.3', async ({ records }) => records.put('msu', 'ann', 'cut', { d: 4 }));
    });
    await assert.rejects(batch, { code: 'con_lost' });
    assert.deepEqual(await home.records.get('msu', 'ann', 'cut', ['c', 'd']), {}, 'nothing of the batch applied');
  });
});
