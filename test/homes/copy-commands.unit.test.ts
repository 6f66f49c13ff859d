import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { CommandRegistry, LOCAL } from '../../src/commands/registry.ts';
import type { HostTable } from '../../src/config/host-table.ts';
import { registerHomeBackupCommands } from '../../src/homes/commands.ts';
import { registerCopyCommands } from '../../src/homes/copy-commands.ts';
import { LoginRelay } from '../../src/homes/login-relay.ts';
import { ReplicaStore } from '../../src/homes/replica-store.ts';
import { CohortError } from '../../src/errors.ts';
import { DomainPolicy } from '../../src/records/domain-policy.ts';
import { hashPassword } from '../../src/records/password.ts';
import { FailureLimiter, LOGIN_FAILURE_LIMIT } from '../../src/records/rate-limit.ts';
import { DatabaseSync } from 'node:sqlite';
import { waitFor } from '../harness/wait.ts';

// A backup E answering for its home A from its copy (issue 27), in one process: `home` stands
// for A (up, down, or answering itself); J is an msu access node, R one of rice (which msu does
// not trust).
const root = mkdtempSync(join(tmpdir(), 'cohort-copy-commands-'));
after(() => rmSync(root, { recursive: true, force: true }));
const table = {
  nodes: [
    { id: 'A', role: 'library', domain: 'msu' },
    { id: 'E', role: 'library', domain: 'msu' },
    { id: 'J', role: 'access', domain: 'msu' },
    { id: 'R', role: 'access', domain: 'rice' },
  ],
  trust: {},
} as unknown as HostTable;
const silent = pino({ level: 'silent' });
const ann = { domain: 'msu', user: 'ann' };

async function backupOfA(name: string) {
  const toldHome: unknown[] = [];
  const replica = new ReplicaStore(join(root, name), 'A', { failed: (key, at) => toldHome.push(['fail', key, at]), forgiven: (key, at) => toldHome.push(['forgive', key, at]) });
  replica.snapshot('begin', 's1', 'log1', [], 0);
  replica.snapshot('end', 's1', 'log1', [['user', 'msu', 'ann', await hashPassword('ann password'), 1]], 0);
  const replicas = new Map([['A', replica]]);
  const home = { answers: undefined as undefined | ((cmd: string, args: unknown) => unknown), asked: [] as string[] };
  const registry = new CommandRegistry();
  const answered: string[] = [];
  registerHomeBackupCommands(registry, { self: 'E', table, replicas, status: () => null, ownLogins: { told: () => assert.fail('E is no home here') } });
  registerCopyCommands(registry, {
    self: 'E',
    replicas,
    policy: new DomainPolicy(table, 'E', silent),
    log: silent,
    answered: (h, use) => answered.push(`${h} ${use}`),
    call: async (to, cmd, args) => {
      assert.equal(to, 'A');
      home.asked.push(cmd);
      if (!home.answers) throw new CohortError('con_lost', 'no link to A');
      return home.answers(cmd, args);
    },
  });
  const run = (cmd: string, args: unknown, from = 'J') => Promise.resolve().then(() => registry.execute(cmd, args, { from }));
  return { replica, home, run, answered, toldHome };
}

test('a login is asked of the home first; its answer stands, a refusal included; only a home that cannot be reached leaves it to the copy', async () => {
  const { home, run, answered, toldHome } = await backupOfA('ask-first');
  home.answers = (cmd) => {
    assert.equal(cmd, 'auth.check');
    throw new CohortError('rate_limited', 'too many failed logins; try again in 100 s');
  };
  await assert.rejects(run('home.copy.auth', { home: 'A', ...ann, password: 'ann password' }), { code: 'rate_limited' }, "the home's answer, though the copy would say ok");
  home.answers = () => ({ ok: true, home: 'A' });
  assert.deepEqual(await run('home.copy.auth', { home: 'A', ...ann, password: 'wrong' }), { ok: true, home: 'A' }, "the home's answer");
  assert.deepEqual(answered, [], 'the copy answered nothing');
  home.answers = undefined;
  assert.deepEqual(await run('home.copy.auth', { home: 'A', ...ann, password: 'ann password' }), { ok: true, home: 'A', copy: 'E' });
  await assert.rejects(run('home.copy.auth', { home: 'A', ...ann, password: 'wrong' }), { code: 'refused', message: 'bad user name or password' });
  await assert.rejects(run('home.copy.auth', { home: 'A', domain: 'msu', user: 'nobody', password: 'x' }), { code: 'refused', message: 'bad user name or password' }, 'a name nobody holds: the same answer');
  assert.deepEqual(answered, ['A login', 'A login', 'A login']);
  assert.deepEqual(toldHome.map((e) => (e as unknown[]).slice(0, 2)), [['fail', 'msu/ann'], ['fail', 'msu/nobody']], "the copy's failures, to be told to A");
});

test("the home takes what its backup checked on its copy, from its backup only: a guesser gets no fresh allowance when it is back", async () => {
  const db = new DatabaseSync(':memory:');
  const own = new FailureLimiter(db, LOGIN_FAILURE_LIMIT, 60_000);
  const registry = new CommandRegistry();
  registerHomeBackupCommands(registry, { self: 'A', table, replicas: new Map(), status: () => null, ownLogins: own });
  const events = Array.from({ length: LOGIN_FAILURE_LIMIT }, (_, i) => ['fail', 'ann', Date.now() - 10 + i]);
  await assert.rejects(Promise.resolve().then(() => registry.execute('home.logins', { home: 'A', events }, { from: 'J' })), { code: 'refused' });
  assert.equal(own.retryAfter('msu/ann'), 0);
  assert.deepEqual(await registry.execute('home.logins', { home: 'A', events }, { from: 'E' }), { taken: LOGIN_FAILURE_LIMIT });
  assert.ok(own.retryAfter('msu/ann') > 0, 'ann is locked at A for the rest of the window');
});

test("the home's failed logins count at the copy: the home's and the copy's own reach one limit; a forgiving login clears them", async () => {
  const { run, replica } = await backupOfA('limit');
  const now = Date.now();
  assert.deepEqual(await run('home.logins', { home: 'A', events: [['fail', 'ann', now - 3], ['fail', 'ann', now - 2]] }, 'A'), { taken: 2 });
  assert.deepEqual(await run('home.logins', { home: 'A', events: [['forgive', 'ann', now - 1]] }, 'A'), { taken: 1 });
  assert.equal(replica.logins.retryAfter('msu/ann'), 0);
  const fails = Array.from({ length: LOGIN_FAILURE_LIMIT - 1 }, (_, i) => ['fail', 'ann', now - 100 + i]);
  await run('home.logins', { home: 'A', events: fails }, 'A');
  await assert.rejects(run('home.copy.auth', { home: 'A', ...ann, password: 'wrong' }), { code: 'refused' });
  await assert.rejects(run('home.copy.auth', { home: 'A', ...ann, password: 'ann password' }), { code: 'rate_limited' }, `${LOGIN_FAILURE_LIMIT - 1} at the home and 1 here`);
});

test('refused or con_lost, changing nothing: another domain, a home whose copy is not kept, a copy being made, a user it lacks, a sender that is not the home', async () => {
  const { run, replica } = await backupOfA('hostile');
  await assert.rejects(run('home.copy.read', { home: 'A', op: 'get', ...ann, ns: 'grades', keys: ['q1'] }, 'R'), { code: 'refused' }, 'msu does not share with rice');
  await assert.rejects(run('home.copy.auth', { home: 'A', ...ann, password: 'ann password' }, 'R'), { code: 'refused' });
  await assert.rejects(run('home.copy.auth', { home: 'J', ...ann, password: 'ann password' }), { code: 'con_lost', message: /keeps no copy of J/ });
  await assert.rejects(run('home.copy.read', { home: 'A', op: 'get', domain: 'msu', user: 'zed', ns: 'grades', keys: ['q1'] }), { code: 'con_lost', message: /may be behind/ }, 'a user the copy lacks may still live on A');
  await assert.rejects(run('home.copy.read', { home: 'A', op: 'put', ...ann, ns: 'grades', values: { q1: 1 } }), { code: 'bad_args' });
  await assert.rejects(run('home.copy.read', { home: 'A', op: 'get', ...ann, ns: '../x', keys: ['q1'] }), { code: 'bad_args' });
  await assert.rejects(run('home.copy.read', { home: 'A', op: 'get', ...ann, ns: 'grades', keys: ['q1'] }, LOCAL), { code: 'refused' }, 'for peers only');
  await assert.rejects(run('home.logins', { home: 'A', events: [['fail', 'ann', 1]] }, 'J'), { code: 'refused' }, 'only the home tells its failures');
  await assert.rejects(run('home.logins', { home: 'A', events: [['fail', '../x', 1]] }, 'A'), { code: 'bad_args' });
  replica.snapshot('begin', 's2', 'log1', [], 5);
  await assert.rejects(run('home.copy.auth', { home: 'A', ...ann, password: 'ann password' }), { code: 'con_lost', message: /snapshot under way/ });
  assert.equal(replica.logins.retryAfter('msu/ann'), 0, 'no failure counted');
});

test("the relay sends the home's own domain's failures, once a second, again while the backup is away, and holds a bounded number", async () => {
  const sent: unknown[] = [];
  let up = false;
  const MAX_HELD = 50;
  const relay = new LoginRelay({ home: 'A', domain: 'msu', to: 'E', logger: silent, maxHeld: MAX_HELD, call: async (_to, _cmd, args) => {
    if (!up) throw new CohortError('con_lost', 'no link to E');
    sent.push(...(args as { events: unknown[] }).events);
    return { taken: 1 };
  } });
  relay.start();
  try {
    relay.failed('msu/ann', 1);
    relay.failed('rice/carol', 2); // a peer of rice asked A about a rice name: not A's to tell
    relay.forgiven('msu/ann', 3);
    await new Promise((r) => setTimeout(r, 1200));
    assert.deepEqual(sent, [], 'E away');
    up = true;
    await waitFor('sent once E is back', () => sent.length === 2, 5000);
    assert.deepEqual(sent, [['fail', 'ann', 1], ['forgive', 'ann', 3]]);
    up = false;
    for (let i = 0; i < MAX_HELD + 20; i++) relay.failed(`msu/n${i}`, i);
    up = true;
    await waitFor('the held ones sent', () => sent.length === 2 + MAX_HELD, 5000);
    assert.deepEqual(sent[2], ['fail', 'n20', 20], 'the oldest went first');
  } finally {
    relay.stop();
  }
});
