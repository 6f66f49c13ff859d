import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { CommandRegistry } from '../../src/commands/registry.ts';
import { GroupCommit } from '../../src/store/group-commit.ts';
import { maintenanceHeaders, maintenancePage } from '../../src/front/maintenance-page.ts';
import { MaintenanceWatch } from '../../src/front/maintenance-watch.ts';
import { MaintenanceStore, registerMaintenanceCommands, type MaintenanceSnapshot } from '../../src/supervisor/maintenance.ts';
import { waitFor } from '../harness/wait.ts';

const silent = pino({ level: 'silent' });

describe('maintenance page', () => {
  it('escapes the message: markup in it stays text', () => {
    const page = maintenancePage('<script>alert("x")</script> & \'quoted\' <img src=x onerror=alert(1)>').toString();
    assert.ok(!page.includes('<script>'), page);
    assert.ok(!page.includes('<img'), page);
    assert.ok(page.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; &lt;img src=x onerror=alert(1)&gt;'), page);
    assert.ok(!/<script|<link|src=["']?http/i.test(page), 'self-contained: no scripts, no outside resources');
  });

  it('has a default wording, and keeps line breaks as text', () => {
    assert.match(maintenancePage('   ').toString(), /down for maintenance and will be back shortly/);
    assert.match(maintenancePage('line one\nline two').toString(), /<p>line one\nline two<\/p>/);
  });

  it('headers: html, Retry-After in whole seconds, no-store', () => {
    assert.deepEqual(maintenanceHeaders(300), ['content-type', 'text/html; charset=utf-8', 'retry-after', '300', 'cache-control', 'no-store']);
    assert.equal(maintenanceHeaders(-5)[3], '0');
    assert.equal(maintenanceHeaders(Number.NaN)[3], '120');
  });
});

describe('MaintenanceStore', () => {
  const open = () => {
    const db = new DatabaseSync(':memory:');
    const store = new MaintenanceStore(db, 'A');
    const registry = new CommandRegistry();
    registerMaintenanceCommands(registry, store);
    return { db, store, registry };
  };
  const tick = () => new Promise((r) => setImmediate(r));

  it('off by default; the newest at wins, an older one is answered with the current state', async () => {
    const { store, registry } = open();
    assert.deepEqual(store.state, { on: false, message: '', at: 0 });
    const v0 = store.versioned.version;
    assert.deepEqual(registry.executeCritical('maintenance.set', { on: true, message: 'back at 5', at: 2000 }, { from: 'B' }), { applied: true, state: { on: true, message: 'back at 5', at: 2000, by: 'B' } });
    await tick();
    assert.equal(store.versioned.version, v0 + 1);
    const stale = registry.executeCritical('maintenance.set', { on: false, at: 1000 }, { from: 'C' }) as { applied: boolean; state: unknown };
    assert.deepEqual(stale, { applied: false, state: { on: true, message: 'back at 5', at: 2000, by: 'B' } });
    await tick();
    assert.equal(store.versioned.version, v0 + 1, 'a stale setting is no change');
    assert.equal(store.state.on, true);
  });

  it('ties go the same way on every node, in any order of arrival; ifAt applies only over that setting', async () => {
    const a = { on: true, message: 'x', at: 5000 };
    const b = { on: false, message: '', at: 5000 };
    const one = open();
    const two = open();
    one.registry.executeCritical('maintenance.set', a, { from: 'B' });
    one.registry.executeCritical('maintenance.set', b, { from: 'C' });
    two.registry.executeCritical('maintenance.set', b, { from: 'C' });
    two.registry.executeCritical('maintenance.set', a, { from: 'B' });
    await tick();
    assert.deepEqual(one.store.state, two.store.state);
    // A reload's "off" over its own "on" (at 5000): refused once an operator set it again meanwhile.
    one.registry.executeCritical('maintenance.set', { on: true, message: 'operator', at: 6000 }, { from: 'D' });
    const off = one.registry.executeCritical('maintenance.set', { on: false, at: 7000, ifAt: 5000 }, { from: 'B' }) as { applied: boolean };
    assert.equal(off.applied, false);
    await tick();
    assert.equal(one.store.state.message, 'operator');
    const own = two.registry.executeCritical('maintenance.set', { on: false, at: 7000, ifAt: 5000 }, { from: 'B' }) as { applied: boolean };
    assert.equal(own.applied, true);
  });

  it('refuses bad input and changes nothing', async () => {
    const { store, registry } = open();
    const bad: unknown[] = [
      { on: 'yes', at: 1 },
      { on: true, at: 1, message: 'x'.repeat(2001) },
      { on: true, at: 1, message: 'bell\u0007' },
      { on: true, at: 1.5 },
      { on: true, at: -1 },
      { on: true, at: Date.now() + 24 * 3_600_000 },
      { on: true, at: Date.now() + 2 * 60_000 },
      { on: true, at: 1, force: true, ifAt: 1 },
      { on: true, at: 1, force: 'yes' },
      { on: true, at: 1, extra: 1 },
      { on: true },
      null,
      [],
    ];
    for (const args of bad) assert.throws(() => registry.executeCritical('maintenance.set', args, { from: 'B' }), { code: 'bad_args' }, JSON.stringify(args)?.slice(0, 80));
    assert.throws(() => registry.execute('maintenance.get', { waitMs: 8001 }, { from: 'B' }), { code: 'bad_args' });
    await tick();
    assert.deepEqual(store.state, { on: false, message: '', at: 0 });
  });

  it('an at more than a minute ahead is refused, saying by how much; force replaces a setting ahead of the clock, not a late-arriving newer one; an app may not set it', async () => {
    const { store, registry } = open();
    assert.throws(() => registry.executeCritical('maintenance.set', { on: true, at: Date.now() + 3_600_000 }, { from: 'B' }), (e: Error & { code?: string }) => e.code === 'bad_args' && /at is 3600 s ahead of this node's clock: at most 60 s/.test(e.message));
    // Within the minute: taken (clocks drift a little).
    const ahead = Date.now() + 50_000;
    assert.equal((registry.executeCritical('maintenance.set', { on: true, at: ahead }, { from: 'B' }) as { applied: boolean }).applied, true);
    const off = { on: false, at: Date.now() };
    assert.equal((registry.executeCritical('maintenance.set', off, { from: 'C' }) as { applied: boolean }).applied, false, 'the newer setting stays');
    assert.deepEqual(registry.executeCritical('maintenance.set', { ...off, force: true }, { from: 'C' }), { applied: true, state: { ...off, message: '', by: 'C' } });
    await tick();
    assert.deepEqual(store.state, { ...off, message: '', by: 'C' });
    // A forced setting that arrives after a newer one not ahead of the clock (its receiver was
    // down when it was sent) does not undo it: critical messages keep their order per sender only.
    const later = { on: true, at: Date.now() };
    assert.equal((registry.executeCritical('maintenance.set', later, { from: 'B' }) as { applied: boolean }).applied, true);
    assert.equal((registry.executeCritical('maintenance.set', { on: false, at: later.at - 1000, force: true }, { from: 'C' }) as { applied: boolean }).applied, false, 'a late forced setting does not undo a newer one');
    await tick();
    assert.equal(store.state.on, true);
    assert.throws(() => registry.execute('maintenance.set', { on: true, at: Date.now() }, { from: 'local', caller: 'app' }), { code: 'refused' });
    assert.equal(store.state.on, true);
  });

  it('a setting rolled back with its transaction is not seen, and wakes nobody', async () => {
    const { db, store } = open();
    const commit = new GroupCommit(db);
    const v = store.versioned.version;
    await assert.rejects(commit.run(() => {
      store.set({ on: true, message: '', at: 5 });
      throw new Error('the rest of the message failed');
    }));
    await tick();
    assert.deepEqual(store.state, { on: false, message: '', at: 0 });
    assert.equal(store.versioned.version, v);
    await commit.run(() => store.set({ on: true, message: 'm', at: 6 }));
    assert.equal(store.state.on, true);
    assert.equal(store.versioned.version, v + 1);
  });

  it('the long poll answers at the change', async () => {
    const { store, registry } = open();
    const first = (await registry.execute('maintenance.get', {}, { from: 'B' })) as MaintenanceSnapshot;
    const started = Date.now();
    const waiting = registry.execute('maintenance.get', { after: first.version, boot: first.boot, waitMs: 8000 }, { from: 'B' }) as Promise<MaintenanceSnapshot>;
    store.set({ on: true, message: 'now', at: 7 });
    const next = await waiting;
    assert.ok(Date.now() - started < 2000);
    assert.equal(next.state.on, true);
    assert.equal(next.version, first.version + 1);
  });
});

describe('MaintenanceWatch', () => {
  const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('follows the long poll; keeps the last state through errors; no timer after stop', async () => {
    const calls: unknown[] = [];
    let answer: ((v: unknown) => void) | undefined;
    let fail: ((e: Error) => void) | undefined;
    const call = (_to: string, _cmd: string, args: unknown) => {
      calls.push(args);
      return new Promise((resolve, reject) => {
        answer = resolve;
        fail = reject;
      });
    };
    const before = timeouts();
    const watch = new MaintenanceWatch(call, 'C', silent);
    const changes: boolean[] = [];
    watch.onChange = (s) => changes.push(s.on);
    watch.start();
    assert.deepEqual(watch.state, { on: false, message: '', at: 0 });
    answer!({ node: 'C', boot: 'b1', version: 1, state: { on: false, message: '', at: 0 } });
    await waitFor('second poll', () => calls.length === 2);
    assert.deepEqual(calls[1], { after: 1, boot: 'b1', waitMs: 8000 });
    answer!({ node: 'C', boot: 'b1', version: 2, state: { on: true, message: 'upgrading', at: 9 } });
    await waitFor('the change', () => watch.state.on);
    assert.deepEqual(watch.state, { on: true, message: 'upgrading', at: 9 });
    await waitFor('third poll', () => calls.length === 3);
    fail!(new Error('con_lost'));
    await waitFor('a retry after the back-off', () => calls.length === 4, 2000);
    assert.deepEqual(calls[3], {}, 'after an error it asks for the state at once');
    assert.equal(watch.state.on, true, 'the last state is kept on error');
    answer!({ nonsense: true });
    await waitFor('a retry after a bad answer', () => calls.length === 5, 2000);
    assert.equal(watch.state.on, true);
    fail!(new Error('down'));
    await waitFor('in back-off', () => timeouts() > before);
    watch.stop();
    assert.equal(timeouts(), before, 'stop clears the back-off timer');
    assert.deepEqual(changes, [true]);
  });

  it('an answer that comes after stop is ignored', async () => {
    let answer: ((v: unknown) => void) | undefined;
    let n = 0;
    const watch = new MaintenanceWatch(() => (n++, new Promise((r) => (answer = r))), 'C', silent);
    watch.start();
    watch.stop();
    answer!({ boot: 'b', version: 1, state: { on: true, message: '', at: 1 } });
    await new Promise((r) => setImmediate(r));
    assert.equal(watch.state.on, false);
    assert.equal(n, 1);
  });
});
