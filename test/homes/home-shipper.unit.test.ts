import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { CommandRegistry } from '../../src/commands/registry.ts';
import type { HostTable } from '../../src/config/host-table.ts';
import { registerHomeBackupCommands } from '../../src/homes/commands.ts';
import { HomeLog } from '../../src/homes/home-log.ts';
import { HomeShipper } from '../../src/homes/home-shipper.ts';
import { ReplicaStore } from '../../src/homes/replica-store.ts';
import { RecordStore } from '../../src/records/stores/record-store.ts';
import { UserStore } from '../../src/records/stores/user-store.ts';
import { openNodeDatabase } from '../../src/store/database.ts';
import { GroupCommit } from '../../src/store/group-commit.ts';
import { waitFor } from '../harness/wait.ts';

// The home's log and its shipper against a backup's real commands and copy, in one process:
// A is the home, E its backup; `reachable` cuts the wire between them.
const root = mkdtempSync(join(tmpdir(), 'cohort-home-shipper-'));
after(() => rmSync(root, { recursive: true, force: true }));
const table = { nodes: [{ id: 'A', role: 'library', domain: 'msu' }, { id: 'E', role: 'library', domain: 'msu' }, { id: 'X', role: 'library', domain: 'other' }] } as unknown as HostTable;
const silent = pino({ level: 'silent' });

function pair(name: string) {
  mkdirSync(join(root, name, 'A'), { recursive: true });
  const homeDb = openNodeDatabase(join(root, name, 'A'));
  const log = new HomeLog(homeDb, true);
  const users = new UserStore(homeDb, log);
  const records = new RecordStore(homeDb, log);
  const commit = new GroupCommit(homeDb);
  const replicas = new Map([['A', new ReplicaStore(join(root, name, 'E'), 'A')]]);
  const backup = new CommandRegistry();
  registerHomeBackupCommands(backup, { self: 'E', table, replicas, status: () => null, ownLogins: { told: () => assert.fail('E is no home here') } });
  const wire = { reachable: true, sent: [] as string[] };
  const call = async (to: string, cmd: string, args: unknown) => {
    assert.equal(to, 'E');
    if (!wire.reachable) throw Object.assign(new Error('link to E down'), { code: 'con_lost' });
    wire.sent.push(cmd);
    return backup.execute(cmd, args, { from: 'A' });
  };
  const shipper = new HomeShipper({ self: 'A', backup: 'E', log, db: homeDb, call, logger: silent, maxFrameBytes: 1 << 20 });
  const write = async (key: string, value: unknown) => {
    await commit.run(() => records.put('msu', 'ann', 'ns', { [key]: value }));
    await shipper.settled();
  };
  const copyValue = (key: string) => replicas.get('A')!.records.get('msu', 'ann', 'ns', [key])[key];
  return { homeDb, log, users, records, commit, replicas, backup, wire, shipper, write, copyValue };
}

test('a write is answered once the backup holds it; what the backup holds leaves the log', async () => {
  const p = pair('sync');
  p.shipper.start();
  try {
    await waitFor('in step', () => p.shipper.status().inSync);
    p.users.create('msu', 'ann', 'scrypt$hash');
    await p.shipper.settled();
    assert.equal(p.replicas.get('A')!.users.passwordHash('msu', 'ann'), 'scrypt$hash');
    for (let i = 0; i < 50; i++) {
      await p.write(`k${i}`, i);
      assert.equal(p.copyValue(`k${i}`), i, `k${i} on the backup when answered`);
    }
    await waitFor('every entry acknowledged, none kept (dropped once a second)', () => p.log.first() === undefined, 5000);
    assert.equal(p.shipper.status().acked, p.log.last());
  } finally {
    p.shipper.stop();
  }
});

test('the backup unreachable: writes are answered at once on the home; reachable again, it catches up from the log', async () => {
  const p = pair('down');
  p.shipper.start();
  try {
    await waitFor('in step', () => p.shipper.status().inSync);
    p.wire.reachable = false;
    const started = Date.now();
    for (let i = 0; i < 5; i++) await p.write(`d${i}`, i);
    assert.ok(Date.now() - started < 2000, 'not held up by the unreachable backup');
    assert.equal(p.shipper.status().inSync, false);
    assert.equal(p.copyValue('d4'), undefined);
    p.wire.sent.length = 0;
    p.wire.reachable = true;
    await waitFor('caught up', () => p.shipper.status().inSync && p.copyValue('d4') === 4, 10_000);
    assert.ok(!p.wire.sent.includes('home.snapshot'), 'from the log, no snapshot');
  } finally {
    p.shipper.stop();
  }
});

test('a backup that lost its copy while reachable: writes stop waiting for it, it gets a snapshot, then the log', async () => {
  const p = pair('lost');
  p.shipper.start();
  try {
    for (let i = 0; i < 5; i++) await p.write(`s${i}`, i);
    // Enough rows for a snapshot of several pages (256 entries each).
    await p.commit.run(() => p.records.put('msu', 'bob', 'many', Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`m${i}`, i]))));
    await waitFor('in step', () => p.shipper.status().inSync && p.copyValue('s4') === 4);
    // A new disk at E: an empty copy.
    p.replicas.get('A')!.close();
    rmSync(join(root, 'lost', 'E', 'replicas'), { recursive: true });
    p.replicas.set('A', new ReplicaStore(join(root, 'lost', 'E'), 'A'));
    await p.write('after', 'loss');
    await waitFor('whole again', () => p.shipper.status().inSync && p.copyValue('s0') === 0 && p.copyValue('after') === 'loss', 10_000);
    assert.equal(p.replicas.get('A')!.records.keys('msu', 'bob', 'many').length, 600);
    assert.ok(p.wire.sent.includes('home.snapshot'));
  } finally {
    p.shipper.stop();
  }
});

test("the backup's commands: only the home sends its changes, only to its backup, only of its domain, well-formed, in order", async () => {
  const p = pair('checks');
  const run = (cmd: string, from: string, args: unknown) => Promise.resolve().then(() => p.backup.execute(cmd, args, { from }));
  const put = ['put', 'msu', 'ann', 'ns', 'k', 1, 1];
  const log = 'log1';
  await assert.rejects(run('home.replicate', 'X', { home: 'A', logId: log, from: 0, entries: [] }), { code: 'refused', message: /only A sends its own changes/ });
  await assert.rejects(run('home.replicate', 'X', { home: 'X', logId: log, from: 0, entries: [] }), { code: 'refused', message: /E is not the backup of X/ });
  await assert.rejects(run('home.replicate', 'A', { home: 'A', logId: log, from: 0, entries: [['put', 'msu', '../etc', 'ns', 'k', 1, 1]] }), { code: 'bad_args' });
  await assert.rejects(run('home.replicate', 'A', { home: 'A', logId: log, from: 0, entries: [['put', 'msu', 'ann', 'ns', 'a\u0001b', 1, 1]] }), { code: 'bad_args' }, 'a key with a control character');
  await assert.rejects(run('home.replicate', 'A', { home: 'A', logId: log, from: 0, entries: [['put', 'msu', 'ann', 'ns', 'k', 'x'.repeat(70_000), 1]] }), { code: 'bad_args' }, 'a value past 64 KiB');
  await assert.rejects(run('home.replicate', 'A', { home: 'A', logId: log, from: 0, entries: [['drop', 'everything']] }), { code: 'bad_args' });
  await assert.rejects(run('home.replicate', 'A', { home: 'A', logId: log, from: -1, entries: [] }), { code: 'bad_args' });
  await assert.rejects(run('home.replicate', 'A', { home: 'A', logId: log, from: 0, entries: [['put', 'other', 'ann', 'ns', 'k', 1, 1]] }), { code: 'refused', message: /domain 'msu', not 'other'/ });
  await assert.rejects(run('home.replicate', 'local', { home: 'A', logId: log, from: 0, entries: [] }), { code: 'refused' });
  // A new copy holds -1 (it needs a snapshot): a batch changes nothing and hears what is held.
  assert.deepEqual(await run('home.replicate', 'A', { home: 'A', logId: log, from: 0, entries: [put] }), { lsn: -1, logId: null });
  assert.equal(p.copyValue('k'), undefined);
  const snap = (part: string, id: string, entries: unknown[], lsn = 7) => run('home.snapshot', 'A', { home: 'A', part, id, logId: log, entries, lsn });
  assert.deepEqual(await snap('begin', 's1', []), { lsn: -1, logId: null });
  await snap('begin', 's2', []);
  await assert.rejects(snap('rows', 's1', [put]), /snapshot s1 is not the one under way/, 'a late part of an earlier snapshot');
  assert.deepEqual(await snap('end', 's2', [put]), { lsn: 7, logId: log });
  assert.deepEqual(await run('home.replicate', 'A', { home: 'A', logId: log, from: 9, entries: [put] }), { lsn: 7, logId: log }, 'a gap: nothing applied');
  assert.deepEqual(await run('home.replicate', 'A', { home: 'A', logId: 'log2', from: 7, entries: [put] }), { lsn: 7, logId: log }, 'another log: nothing applied');
  assert.deepEqual(await run('home.replicate', 'A', { home: 'A', logId: log, from: 7, entries: [put, ['del', 'msu', 'ann', 'ns', 'k']] }), { lsn: 9, logId: log });
  assert.equal(p.copyValue('k'), undefined);
});

test('a copy the home cannot account for is not overwritten: one of a log this home never had', async () => {
  const p = pair('foreign');
  p.shipper.start();
  try {
    await p.write('a', 1);
    await waitFor('in step', () => p.shipper.status().inSync && p.copyValue('a') === 1);
    // The home's database replaced by a new one (its log and id new): the backup's copy is kept.
    p.shipper.stop();
    mkdirSync(join(root, 'foreign', 'A2'), { recursive: true });
    const fresh = openNodeDatabase(join(root, 'foreign', 'A2'));
    const log2 = new HomeLog(fresh, true);
    new RecordStore(fresh, log2);
    new UserStore(fresh, log2);
    const shipper2 = new HomeShipper({ self: 'A', backup: 'E', log: log2, db: fresh, call: async (_to, cmd, args) => p.backup.execute(cmd, args, { from: 'A' }), logger: silent, maxFrameBytes: 1 << 20 });
    shipper2.start();
    try {
      await waitFor('refused', () => /a log this node never had/.test(shipper2.status().why ?? ''));
      assert.equal(shipper2.status().copyRefused, true);
      assert.equal(shipper2.status().inSync, false);
      assert.equal(p.copyValue('a'), 1, 'the copy is kept');
    } finally {
      shipper2.stop();
    }
  } finally {
    p.shipper.stop();
  }
});

test("the log kept for an absent backup stays within its bounds, oldest out, and the backup then gets a snapshot", () => {
  mkdirSync(join(root, 'trim'), { recursive: true });
  const db = openNodeDatabase(join(root, 'trim'));
  const log = new HomeLog(db, true, { entries: 10, bytes: 2000 });
  for (let i = 0; i < 25; i++) log.append(['put', 'msu', 'ann', 'ns', 'k', String(i), i]);
  assert.equal(log.trim(), 15);
  assert.deepEqual([log.first(), log.last()], [16, 25]);
  assert.equal(log.trim(), 0, 'within bounds: nothing goes');
  for (let i = 0; i < 5; i++) log.append(['put', 'msu', 'ann', 'ns', 'k', JSON.stringify('x'.repeat(500)), i]);
  assert.ok(log.trim() > 0, 'over the bytes: the older half goes');
  assert.equal(log.last(), 30);
  db.close();
});

test("a copy of an earlier run of the home's log (logging was off a while) is made again from a snapshot", async () => {
  const p = pair('rerun');
  p.shipper.start();
  await p.write('a', 1);
  await waitFor('in step', () => p.shipper.status().inSync && p.copyValue('a') === 1);
  p.shipper.stop();
  // No backup for a while (the host table named none): nothing logged; then one again.
  const off = new HomeLog(p.homeDb, false);
  new RecordStore(p.homeDb, off).put('msu', 'ann', 'ns', { b: 2 });
  const on = new HomeLog(p.homeDb, true);
  assert.notEqual(on.id, p.log.id);
  assert.ok(on.knows(p.log.id));
  p.wire.sent.length = 0;
  const shipper = new HomeShipper({ self: 'A', backup: 'E', log: on, db: p.homeDb, call: async (_to, cmd, args) => (p.wire.sent.push(cmd), p.backup.execute(cmd, args, { from: 'A' })), logger: silent, maxFrameBytes: 1 << 20 });
  shipper.start();
  try {
    await waitFor('in step again, with what was not logged', () => shipper.status().inSync && p.copyValue('b') === 2, 10_000);
    assert.ok(p.wire.sent.includes('home.snapshot'));
  } finally {
    shipper.stop();
  }
});

test('the node stopping: a write still waiting for its backup is not answered ok (its sender sends it again)', async () => {
  const p = pair('stopping');
  p.shipper.start();
  await waitFor('in step', () => p.shipper.status().inSync);
  // The backup takes its time: the write waits for it when the node stops.
  const original = p.backup.execute.bind(p.backup);
  p.backup.execute = (cmd, args, ctx) => (cmd === 'home.replicate' ? new Promise(() => {}) : original(cmd, args, ctx));
  p.wire.sent.length = 0;
  const waiting = p.write('late', 1);
  await waitFor('the write on its way to the backup', () => p.wire.sent.includes('home.replicate'));
  p.shipper.stop();
  await assert.rejects(waiting, { code: 'con_lost' });
  assert.equal(p.shipper.status().inSync, false);
  await assert.rejects(p.shipper.settled(), { code: 'con_lost' });
});

test('a home just started waits for its backup before answering writes (it does not answer alone while it has not asked yet)', async () => {
  const p = pair('fresh-start');
  let up = false; // the link to E comes up a little after the node starts
  const original = p.backup.execute.bind(p.backup);
  p.backup.execute = (cmd, args, ctx) => {
    if (!up) throw Object.assign(new Error('link to E not up yet'), { code: 'con_lost' });
    return original(cmd, args, ctx);
  };
  p.shipper.start();
  try {
    const writing = p.write('first', 1);
    setTimeout(() => (up = true), 300).unref();
    await writing;
    assert.equal(p.copyValue('first'), 1, 'on the backup when answered');
    assert.equal(p.shipper.status().inSync, true);
  } finally {
    p.shipper.stop();
  }
});

test('a backup first heard holding more of the same log than the home had when it started: refused (the home was restored from an older file)', async () => {
  const p = pair('restored');
  p.shipper.start();
  for (let i = 0; i < 5; i++) await p.write(`r${i}`, i);
  await waitFor('in step', () => p.shipper.status().inSync && p.copyValue('r4') === 4);
  p.shipper.stop();
  // The home's database as it was two writes ago (same log id), and three writes made before the backup is first asked.
  p.homeDb.exec(`DELETE FROM home_log; UPDATE sqlite_sequence SET seq = seq - 2 WHERE name = 'home_log'`);
  const shipper = new HomeShipper({ self: 'A', backup: 'E', log: new HomeLog(p.homeDb, true), db: p.homeDb, call: async (_to, cmd, args) => p.backup.execute(cmd, args, { from: 'A' }), logger: silent, maxFrameBytes: 1 << 20 });
  new RecordStore(p.homeDb, p.log).put('msu', 'ann', 'ns', { x: 1, y: 2, z: 3 }); // the log at 6, past the 5 the backup holds
  assert.equal(p.log.last(), 6);
  shipper.start();
  try {
    await waitFor('refused', () => /more than it has made|restored/.test(shipper.status().why ?? ''));
    assert.equal(p.copyValue('r4'), 4, 'the copy is kept');
  } finally {
    shipper.stop();
  }
});

test('a late beginning of an earlier snapshot does not empty a copy that holds more of the same log', async () => {
  const p = pair('late-begin');
  const snap = (part: string, id: string, entries: unknown[], lsn: number) => p.backup.execute('home.snapshot', { home: 'A', part, id, logId: 'L1', entries, lsn }, { from: 'A' });
  snap('begin', 's2', [], 9);
  snap('end', 's2', [['put', 'msu', 'ann', 'ns', 'k', 1, 1]], 9);
  assert.throws(() => snap('begin', 's1', [], 5), /holds to 9/);
  assert.equal(p.copyValue('k'), 1);
});

test("confirmed: resolves once the backup holds the change; refused while it is out of step, or if it falls out of step first", async () => {
  const p = pair('confirmed');
  p.shipper.start();
  try {
    await waitFor('in step', () => p.shipper.status().inSync);
    await p.commit.run(() => p.records.put('msu', 'ann', 'ns', { c: 1 }));
    await p.shipper.confirmed();
    assert.equal(p.copyValue('c'), 1);
    // The backup stops answering while a change waits: refused, not answered alone.
    const original = p.backup.execute.bind(p.backup);
    p.backup.execute = (cmd, args, ctx) => (cmd === 'home.replicate' ? new Promise(() => {}) : original(cmd, args, ctx));
    await p.commit.run(() => p.records.put('msu', 'ann', 'ns', { c: 2 }));
    await assert.rejects(p.shipper.confirmed(), { code: 'con_lost', message: /out of step/ });
    assert.equal(p.shipper.status().inSync, false);
    await assert.rejects(p.shipper.confirmed(), { code: 'con_lost' }, 'out of step: refused at once');
    await p.shipper.settled(); // an ordinary write is answered alone meanwhile
  } finally {
    p.shipper.stop();
  }
});

test("a critical message's job goes to the backup whole, with its applied id: a batch never ends inside one, and one larger than a batch goes alone", async () => {
  const p = pair('jobs');
  const batches: unknown[][] = [];
  let reachable = false;
  const shipper = new HomeShipper({
    self: 'A', backup: 'E', log: p.log, db: p.homeDb, logger: silent, maxFrameBytes: 1 << 20,
    call: async (_to, cmd, args) => {
      if (!reachable) throw Object.assign(new Error('link to E down'), { code: 'con_lost' });
      if (cmd === 'home.replicate') batches.push((args as { entries: unknown[] }).entries);
      return p.backup.execute(cmd, args, { from: 'A' });
    },
  });
  shipper.start();
  try {
    // The copy first: then the log (not a snapshot) carries what follows.
    reachable = true;
    await waitFor('in step', () => shipper.status().inSync);
    reachable = false;
    const job = (keys: number, mid: string) =>
      p.commit.run(() => {
        p.log.beginJob();
        try {
          const values = Object.fromEntries(Array.from({ length: keys }, (_, i) => [`${mid}.${i}`, i]));
          const result = { stored: p.records.put('msu', 'ann', 'ns', values) };
          p.log.append(['applied', 'J', mid, result, Date.now()]);
        } finally {
          p.log.endJob();
        }
      });
    for (let i = 0; i < 200; i++) await p.commit.run(() => p.records.put('msu', 'ann', 'ns', { [`single${i}`]: i }));
    await job(600, 'aaaaaaaaaaaa.1'); // more than a batch (256)
    await job(100, 'aaaaaaaaaaaa.2'); // would straddle the next batch's end
    for (let i = 0; i < 100; i++) await p.commit.run(() => p.records.put('msu', 'ann', 'ns', { [`after${i}`]: i }));
    reachable = true;
    await waitFor('in step again', () => shipper.status().inSync && shipper.status().acked === p.log.last(), 10_000);
    // Each job's entries (its puts and its applied id) are in one batch.
    for (const [mid, keys] of [['aaaaaaaaaaaa.1', 600], ['aaaaaaaaaaaa.2', 100]] as const) {
      const holding = batches.filter((b) => b.some((e) => (e as string[])[0] === 'put' && String((e as string[])[4]).startsWith(`${mid}.`)) || b.some((e) => (e as string[])[2] === mid));
      assert.equal(holding.length, 1, `${mid} in ${holding.length} batches`);
      assert.equal(holding[0].filter((e) => String((e as string[])[4]).startsWith(`${mid}.`)).length, keys);
      assert.ok(holding[0].some((e) => (e as string[])[0] === 'applied' && (e as string[])[2] === mid), 'with its applied id');
    }
    assert.ok(batches.some((b) => b.length === 601), 'the large job went alone, past the batch size');
    const copied = p.replicas.get('A')!;
    assert.equal(copied.records.get('msu', 'ann', 'ns', ['aaaaaaaaaaaa.1.599'])['aaaaaaaaaaaa.1.599'], 599);
  } finally {
    shipper.stop();
  }
});

test("a critical message's changes larger than a link's frame can carry whole go in parts, said, and the backup still catches up", async () => {
  const p = pair('big-job');
  const sizes: number[] = [];
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const maxFrameBytes = 64 * 1024;
  const shipper = new HomeShipper({
    self: 'A', backup: 'E', log: p.log, db: p.homeDb, logger, maxFrameBytes,
    call: async (_to, cmd, args) => {
      if (cmd === 'home.replicate') sizes.push(Buffer.byteLength(JSON.stringify(args)));
      return p.backup.execute(cmd, args, { from: 'A' });
    },
  });
  shipper.start();
  try {
    await waitFor('in step', () => shipper.status().inSync);
    await p.commit.run(() => {
      p.log.beginJob();
      try {
        p.records.put('msu', 'ann', 'ns', Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`big${i}`, 'x'.repeat(1024)])));
        p.log.append(['applied', 'J', 'aaaaaaaaaaaa.9', { stored: 300 }, Date.now()]);
      } finally {
        p.log.endJob();
      }
    });
    await shipper.settled();
    await waitFor('the backup holds it all', () => shipper.status().inSync && shipper.status().acked === p.log.last(), 10_000);
    assert.ok(sizes.length > 1 && sizes.every((n) => n < maxFrameBytes), `batches of ${sizes.join(', ')} bytes, each within a frame`);
    assert.ok(warnings.some((w) => w.includes('home_log_job_in_parts')), 'said');
    assert.equal(p.replicas.get('A')!.records.get('msu', 'ann', 'ns', ['big299'])['big299'], 'x'.repeat(1024));
  } finally {
    shipper.stop();
  }
});
