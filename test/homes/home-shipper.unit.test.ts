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
import { RecordStore } from '../../src/records/record-store.ts';
import { UserStore } from '../../src/records/user-store.ts';
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
  registerHomeBackupCommands(backup, { self: 'E', table, replicas, shipper: undefined });
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
    assert.equal(p.log.first(), undefined, 'every entry acknowledged, none kept');
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

test("the backup's commands: only the home sends its changes, only to its backup, only well-formed, only in order", async () => {
  const p = pair('checks');
  const replicate = (from: string, args: unknown) => Promise.resolve().then(() => p.backup.execute('home.replicate', args, { from }));
  const put = ['put', 'msu', 'ann', 'ns', 'k', '1', 1];
  await assert.rejects(replicate('X', { home: 'A', from: -1, entries: [] }), { code: 'refused', message: /only A sends its own changes/ });
  await assert.rejects(replicate('X', { home: 'X', from: 0, entries: [] }), { code: 'refused', message: /E is not the backup of X/ });
  await assert.rejects(replicate('A', { home: 'A', from: 0, entries: [['put', 'msu', '../etc', 'ns', 'k', '1', 1]] }), { code: 'bad_args' });
  await assert.rejects(replicate('A', { home: 'A', from: 0, entries: [['drop', 'everything']] }), { code: 'bad_args' });
  await assert.rejects(Promise.resolve().then(() => p.backup.execute('home.replicate', { home: 'A', from: 0, entries: [] }, { from: 'local' })), { code: 'refused' });
  // A new copy holds -1 (it needs a snapshot): a batch from 0 changes nothing and hears what is held.
  assert.deepEqual(await replicate('A', { home: 'A', from: 0, entries: [put] }), { lsn: -1 });
  assert.equal(p.copyValue('k'), undefined);
  assert.deepEqual(p.backup.execute('home.snapshot', { home: 'A', part: 'begin', entries: [], lsn: 7 }, { from: 'A' }), { lsn: -1 });
  assert.deepEqual(p.backup.execute('home.snapshot', { home: 'A', part: 'end', entries: [put], lsn: 7 }, { from: 'A' }), { lsn: 7 });
  assert.deepEqual(await replicate('A', { home: 'A', from: 9, entries: [put] }), { lsn: 7 }, 'a gap: nothing applied');
  assert.deepEqual(await replicate('A', { home: 'A', from: 7, entries: [put, ['del', 'msu', 'ann', 'ns', 'k']] }), { lsn: 9 });
  assert.equal(p.copyValue('k'), undefined);
  assert.throws(() => p.backup.execute('home.snapshot', { home: 'A', part: 'rows', entries: [put], lsn: 9 }, { from: 'A' }), /without its beginning/);
});
