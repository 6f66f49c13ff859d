// Benchmark: records from an access node to a remote home node, 32 concurrent callers (each its
// own local-socket connection, like app processes), in one run:
//   - to a home without a backup (rice's only library node R), every put durable on R before it
//     is answered;
//   - to a home with a backup (msu's E, backed up by F: issue 27), every put durable on E and on
//     F before it is answered: what the synchronous copy costs;
//   - PostgreSQL (the machine's server, or BENCH_PG_URL) with synchronous_commit on (its default),
//     the same upsert of the same rows from 32 connections (a pg Pool of 32, as node-postgres'
//     docs recommend for concurrent work): one durable commit each, grouped by its WAL writer;
//     no standby (a synchronous standby would be the like of the backup row: not set up here);
//   - to a home whose users and records are in that PostgreSQL (library node P, issue 27's "when a
//     user outgrows this"): each put's message id recorded in PostgreSQL with its effect;
//   - the same record operations on a SQLite database in this process (the local limit).
// The three cluster rows alternate (rotating their order), BENCH_RECORDS_REPS times each (default 3); figures are medians.
// Sizes: BENCH_PUTS, BENCH_GETS, BENCH_CALLERS. Needs PostgreSQL reachable (trust auth here).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CohortClient } from '../src/client/client.ts';
import { RecordStore } from '../src/records/stores/record-store.ts';
import { openNodeDatabase } from '../src/store/database.ts';
import { GroupCommit } from '../src/store/group-commit.ts';
import { TestCluster } from '../test/harness/cluster.ts';
import { waitFor } from '../test/harness/wait.ts';
import { median, progress as report } from './stats.ts';
import { packageVersion, recordResult } from './results.ts';

const PUTS = Number(process.env.BENCH_PUTS ?? 10_000);
const GETS = Number(process.env.BENCH_GETS ?? 50_000);
const CALLERS = Number(process.env.BENCH_CALLERS ?? 32);
const REPS = Number(process.env.BENCH_RECORDS_REPS ?? 3);
// The machine's server, as its own user (node-postgres takes the user from $USER, unset in some shells).
const PG_URL = process.env.BENCH_PG_URL ?? `postgresql://${encodeURIComponent(process.env.PGUSER ?? userInfo().username)}@127.0.0.1:5432/test`;
const progress = (msg: string) => report('bench:records', msg);
const carol = { domain: 'rice', user: 'carol' }; // home R, no backup
const alice = { domain: 'msu', user: 'alice' }; // home E, backup F
const dana = { domain: 'pgd', user: 'dana' }; // home P, records in PostgreSQL
const value = (i: number) => ({ i, answer: 'x'.repeat(32) });

/** Runs `total` operations spread over CALLERS concurrent loops; returns operations per second. */
async function rate(total: number, op: (caller: number, i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CALLERS }, async (_, caller) => {
    while (next < total) await op(caller, next++);
  }));
  return Math.round(total / (Number(process.hrtime.bigint() - started) / 1e9));
}

const pgSchema = `cohort_bench_home_${process.pid}`;
const cluster = await TestCluster.create(
  [
    { id: 'E', domain: 'msu', role: 'library' },
    { id: 'F', domain: 'msu', role: 'library' },
    { id: 'R', domain: 'rice', role: 'library' },
    { id: 'P', domain: 'pgd', role: 'library', records: { postgres: { url: PG_URL, schema: pgSchema } } },
    { id: 'J', domain: 'msu', role: 'access' },
  ],
  { trust: { rice: ['msu'], pgd: ['msu'] } },
);
const localDir = mkdtempSync(join(tmpdir(), 'cohort-records-'));
const pool = new pg.Pool({ connectionString: PG_URL, max: CALLERS });
const table = `cohort_bench_records_${process.pid}`;
try {
  progress('starting library nodes E, F (msu: each the backup of the other), R (rice, alone: no backup) and P (pgd, records in PostgreSQL), access node J');
  await cluster.startAll({ logLevel: 'info' });
  await waitFor('links up', () => cluster.linksUp());
  await (await cluster.client('J')).auth.addUser(alice, 'E', 'pw');
  await (await cluster.client('J')).auth.addUser(carol, 'R', 'pw');
  await (await cluster.client('J')).auth.addUser(dana, 'P', 'pw');
  const inStep = async () => ((await (await cluster.client('E')).call('E', 'home.backup', {})) as { home: { inSync: boolean } }).home.inSync;
  await waitFor("E's backup F in step", inStep, 30_000);
  const clients = await Promise.all(Array.from({ length: CALLERS }, () => CohortClient.forNode(cluster.table, 'J')));
  for (let i = 0; i < 300; i++) await Promise.all([clients[0].records.put(alice, 'warm', { [`k${i}`]: i }), clients[1].records.put(carol, 'warm', { [`k${i}`]: i }), clients[2].records.put(dana, 'warm', { [`k${i}`]: i })]);

  type Row = 'plain' | 'backup' | 'pgHome';
  const runs: Record<Row, { put: number[]; get: number[] }> = { plain: { put: [], get: [] }, backup: { put: [], get: [] }, pgHome: { put: [], get: [] } };
  const rows: [Row, typeof alice, string][] = [['plain', carol, 'R (no backup)'], ['backup', alice, 'E (backup F)'], ['pgHome', dana, 'P (records in PostgreSQL)']];
  for (let rep = 0; rep < REPS; rep++) {
    for (const [row, who, where] of [...rows.slice(rep % 3), ...rows.slice(0, rep % 3)]) {
      progress(`rep ${rep + 1}/${REPS}: ${PUTS} puts J -> ${where}, then ${GETS} gets`);
      if (row === 'backup' && !(await inStep())) throw new Error("E's backup F is out of step: the backup row would measure E alone");
      runs[row].put.push(await rate(PUTS, async (c, i) => {
        const r = await clients[c].records.put(who, 'bench', { [`k${i % 1000}`]: value(i) });
        if (r.status !== 'ok') throw new Error(`put was ${r.status}`);
      }));
      runs[row].get.push(await rate(GETS, (c, i) => clients[c].records.get(who, 'bench', [`k${i % 1000}`])));
    }
  }
  const fellBehind = cluster.events('E', 'home_backup_out_of_sync').length;
  for (const c of clients) c.close();

  progress(`PostgreSQL (${PG_URL}, synchronous_commit on): ${PUTS} upserts, ${GETS} reads, ${CALLERS} connections`);
  const sync = (await pool.query('SHOW synchronous_commit')).rows[0] as { synchronous_commit: string };
  if (sync.synchronous_commit !== 'on') throw new Error(`PostgreSQL's synchronous_commit is ${sync.synchronous_commit}, not on`);
  const version = ((await pool.query('SHOW server_version')).rows[0] as { server_version: string }).server_version;
  await pool.query(`CREATE TABLE ${table} (domain TEXT NOT NULL, "user" TEXT NOT NULL, ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated BIGINT NOT NULL, PRIMARY KEY (domain, "user", ns, key))`);
  const pgPuts: number[] = [];
  const pgGets: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    pgPuts.push(await rate(PUTS, (_c, i) => pool.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (domain, "user", ns, key) DO UPDATE SET value = excluded.value, updated = excluded.updated`, ['msu', 'alice', 'bench', `k${i % 1000}`, JSON.stringify(value(i)), Date.now()])));
    pgGets.push(await rate(GETS, (_c, i) => pool.query(`SELECT value FROM ${table} WHERE domain = $1 AND "user" = $2 AND ns = $3 AND key = $4`, ['msu', 'alice', 'bench', `k${i % 1000}`])));
  }

  progress('the same on a SQLite database in this process (WAL, synchronous=FULL, group commit)');
  const db = openNodeDatabase(localDir);
  const store = new RecordStore(db);
  const commit = new GroupCommit(db);
  const localPut = await rate(PUTS, (_c, i) => commit.run(() => store.put('msu', 'alice', 'bench', { [`k${i % 1000}`]: value(i) })));
  const localGet = await rate(GETS, async (_c, i) => store.get('msu', 'alice', 'bench', [`k${i % 1000}`]));
  db.close();

  const fig = {
    remote_put_per_s: median(runs.plain.put), remote_put_backup_per_s: median(runs.backup.put), pg_put_per_s: median(pgPuts), local_put_per_s: localPut,
    remote_get_per_s: median(runs.plain.get), remote_get_backup_per_s: median(runs.backup.get), pg_get_per_s: median(pgGets), local_get_per_s: localGet,
    remote_put_pg_home_per_s: median(runs.pgHome.put), remote_get_pg_home_per_s: median(runs.pgHome.get),
  };
  const backupCost = fig.remote_put_per_s / fig.remote_put_backup_per_s;
  console.log(`records, ${CALLERS} concurrent callers on access node J; medians of ${REPS} alternating runs`);
  console.log(`${'operation'.padEnd(34)}${'per s'.padStart(10)}${'× no backup'.padStart(14)}`);
  const row = (name: string, v: number, base: number) => console.log(`${name.padEnd(34)}${String(v).padStart(10)}${(v / base).toFixed(2).padStart(14)}`);
  row('put, home without a backup', fig.remote_put_per_s, fig.remote_put_per_s);
  row('put, home with a backup', fig.remote_put_backup_per_s, fig.remote_put_per_s);
  row('put, home in PostgreSQL', fig.remote_put_pg_home_per_s, fig.remote_put_per_s);
  row(`put, PostgreSQL ${version.split(' ')[0]}`, fig.pg_put_per_s, fig.remote_put_per_s);
  row('put, SQLite in this process', fig.local_put_per_s, fig.remote_put_per_s);
  row('get, home without a backup', fig.remote_get_per_s, fig.remote_get_per_s);
  row('get, home with a backup', fig.remote_get_backup_per_s, fig.remote_get_per_s);
  row('get, home in PostgreSQL', fig.remote_get_pg_home_per_s, fig.remote_get_per_s);
  row(`get, PostgreSQL ${version.split(' ')[0]}`, fig.pg_get_per_s, fig.remote_get_per_s);
  row('get, SQLite in this process', fig.local_get_per_s, fig.remote_get_per_s);
  console.log(`a put with a backup costs ${backupCost.toFixed(2)}× one without (target ≤ 2); E's backup fell out of step ${fellBehind} time(s)`);
  recordResult('records', { ...fig, backup_put_cost: Number(backupCost.toFixed(3)), backup_out_of_step: fellBehind, callers: CALLERS, puts: PUTS, gets: GETS, reps: REPS }, { postgresql: version, pg: packageVersion('pg') });
} finally {
  await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
  await pool.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`).catch(() => {});
  await pool.end();
  await cluster.destroy();
  rmSync(localDir, { recursive: true, force: true });
}
