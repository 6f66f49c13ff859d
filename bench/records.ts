// Benchmark: records from an access node to a remote home node, 32 concurrent callers
// (each its own local-socket connection, like app processes), against the same record
// operations on the home node's own SQLite directly (the local limit), in one run.
// Every put is durable on the home node before it is acknowledged.
// Sizes: BENCH_PUTS, BENCH_GETS, BENCH_CALLERS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CohortClient } from '../src/client/client.ts';
import { RecordStore } from '../src/records/record-store.ts';
import { openNodeDatabase } from '../src/store/database.ts';
import { GroupCommit } from '../src/store/group-commit.ts';
import { TestCluster } from '../test/harness/cluster.ts';
import { waitFor } from '../test/harness/wait.ts';
import { progress as report } from './stats.ts';
import { recordResult } from './results.ts';

const PUTS = Number(process.env.BENCH_PUTS ?? 20_000);
const GETS = Number(process.env.BENCH_GETS ?? 100_000);
const CALLERS = Number(process.env.BENCH_CALLERS ?? 32);
const progress = (msg: string) => report('bench:records', msg);
const alice = { domain: 'msu', user: 'alice' };

/** Runs `total` operations spread over CALLERS concurrent loops; returns operations per second. */
async function rate(total: number, op: (caller: number, i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CALLERS }, async (_, caller) => {
    while (next < total) await op(caller, next++);
  }));
  return Math.round(total / (Number(process.hrtime.bigint() - started) / 1e9));
}

const cluster = await TestCluster.create([{ id: 'E', role: 'library' }, { id: 'J', role: 'access' }]);
const localDir = mkdtempSync(join(tmpdir(), 'cohort-records-'));
try {
  progress('starting home node E and access node J');
  await cluster.startAll();
  await waitFor('links up', () => cluster.linksUp());
  await (await cluster.client('E')).auth.addUser(alice, 'E', 'pw');
  const clients = await Promise.all(Array.from({ length: CALLERS }, () => CohortClient.forNode(cluster.table, 'J')));
  for (let i = 0; i < 500; i++) await clients[0].records.put(alice, 'warm', { [`k${i}`]: i });

  progress(`${PUTS} remote puts J -> E (critical, durable on E), ${CALLERS} callers`);
  const remotePut = await rate(PUTS, async (c, i) => {
    const r = await clients[c].records.put(alice, 'bench', { [`k${i % 1000}`]: { i, answer: 'x'.repeat(32) } });
    if (r.status !== 'ok') throw new Error(`put was ${r.status}`);
  });
  progress(`${GETS} remote gets J -> E`);
  const remoteGet = await rate(GETS, (c, i) => clients[c].records.get(alice, 'bench', [`k${i % 1000}`]));
  for (const c of clients) c.close();

  progress('the same on a SQLite database in this process (WAL, synchronous=FULL, group commit)');
  const db = openNodeDatabase(localDir);
  const store = new RecordStore(db);
  const commit = new GroupCommit(db);
  const localPut = await rate(PUTS, (_c, i) => commit.run(() => store.put('msu', 'alice', 'bench', { [`k${i % 1000}`]: { i, answer: 'x'.repeat(32) } })));
  const localGet = await rate(GETS, async (_c, i) => store.get('msu', 'alice', 'bench', [`k${i % 1000}`]));
  db.close();

  console.log(`records, ${CALLERS} concurrent callers on access node J, home node E (2 node processes on 127.0.0.1)`);
  console.log(`${'operation'.padEnd(12)}${'remote /s'.padStart(12)}${'local /s'.padStart(12)}${'remote ÷ local'.padStart(16)}`);
  for (const [name, remote, local] of [['put', remotePut, localPut], ['get', remoteGet, localGet]] as const) {
    console.log(`${name.padEnd(12)}${String(remote).padStart(12)}${String(local).padStart(12)}${(remote / local).toFixed(3).padStart(16)}`);
  }
  recordResult('records', { remote_put_per_s: remotePut, remote_get_per_s: remoteGet, local_put_per_s: localPut, local_get_per_s: localGet, callers: CALLERS }, {});
} finally {
  await cluster.destroy();
  rmSync(localDir, { recursive: true, force: true });
}
