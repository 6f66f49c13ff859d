import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CommandRegistry, LOCAL } from '../../src/commands/registry.ts';
import { MAX_ITEMS, MAX_TABLES, registerDispatcherCommands, SharedLard, type DecideArgs } from '../../src/dispatcher/shared-lard.ts';
import { frontSchema } from '../../src/front/config.ts';

// The shared dispatcher's bookkeeping: picks in item order, counted at once (the next item of a
// batch sees them), other fronts' requests in flight count, completions lower them, a front
// not heard from for 30 s is forgotten, and what a caller may send is bounded.
const settings = { tLow: 2, tHigh: 4, kMs: 20_000, maxTargets: 100 };
const servers = [{ id: 'A', capacity: 1 }, { id: 'B', capacity: 1 }, { id: 'C', capacity: 1 }];
const args = (front: string, items: DecideArgs['items'], done: Record<string, number> = {}): DecideArgs => ({ front, route: 'r', mode: 'lard', settings, servers, items, done });

test('a batch is placed in order, each pick counted before the next; exclude keeps a server out', () => {
  const d = new SharedLard();
  const picks = d.decide(args('f1', [{ target: '/a' }, { target: '/b' }, { target: '/c' }, { target: '/a' }]), 0).picks.map((p) => p!.id);
  assert.deepEqual(picks, ['A', 'B', 'C', 'A'], 'new targets go to the least loaded, which changes with each pick; /a stays on A');
  assert.deepEqual(d.decide(args('f1', [{ target: '/d', exclude: ['A', 'B'] }]), 0).picks.map((p) => p!.id), ['C']);
  assert.deepEqual(d.decide(args('f1', [{ target: '/e', exclude: ['A', 'B', 'C'] }]), 0).picks, [null]);
});

test("every front's requests in flight count; completions lower them; a silent front is forgotten", () => {
  const d = new SharedLard();
  // f1 holds 2 on A, 1 on B (its /a twice, /b once).
  d.decide(args('f1', [{ target: '/a' }, { target: '/b' }, { target: '/a' }]), 0);
  // f2's new target goes to C (least loaded overall), though f2 itself has nothing in flight.
  assert.equal(d.decide(args('f2', [{ target: '/x' }]), 0).picks[0]!.id, 'C');
  // f1's requests finish: A and B are free; f2 still has one on C, so the next new target goes to A.
  assert.equal(d.decide(args('f1', [{ target: '/y' }], { A: 2, B: 1 }), 1000).picks[0]!.id, 'A');
  // A completion for more than was counted does not go below zero.
  d.decide(args('f1', [], { A: 50 }), 1000);
  assert.equal(d.decide(args('f3', [{ target: '/z' }]), 2000).picks[0]!.id, 'A', 'A: 0, B: 0, C: 1 (f2)');
  // 30 s later f2 (silent since 0 s) is forgotten with its count on C.
  d.decide(args('f1', [], { A: 1 }), 31_000);
  d.decide(args('f3', [], { A: 1 }), 31_000);
  assert.equal(d.decide(args('f1', [{ target: '/w' }, { target: '/v' }, { target: '/u' }]), 31_000).picks.map((p) => p!.id).join(''), 'ABC');
});

test('lard.decide refuses what is over its bounds, and caps what a table holds', async () => {
  const registry = new CommandRegistry();
  registerDispatcherCommands(registry, new SharedLard());
  const run = (a: unknown) => registry.execute('lard.decide', a, { from: LOCAL });
  const ok = args('f', [{ target: '/a' }]);
  assert.deepEqual(((await run(ok)) as { picks: { id: string }[] }).picks.map((p) => p.id), ['A']);
  const bad = (a: unknown) => assert.throws(() => run(a), (e: Error & { code?: string }) => e.code === 'bad_args');
  bad({ ...ok, items: Array.from({ length: 1025 }, () => ({ target: '/a' })) });
  bad({ ...ok, items: [{ target: 'x'.repeat(1025) }] });
  bad({ ...ok, servers: Array.from({ length: 257 }, (_, i) => ({ id: `s${i}`, capacity: 1 })) });
  bad({ ...ok, settings: { ...settings, tLow: 5, tHigh: 4 } });
  bad({ ...ok, extra: 1 });
  // Fronts only: an app's call is refused, whatever it asks (the local socket tells it apart: test/commands/command-scopes.test.ts).
  assert.throws(() => registry.execute('lard.decide', ok, { from: LOCAL, caller: 'app' }), (e: Error & { code?: string }) => e.code === 'refused' && /operator command/.test(e.message));
});

test('a table is bounded in bytes: 110,000 distinct targets of 1 KiB leave under 48 MiB of heap', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const d = new SharedLard();
  // A caller asks for a table of 10 million targets; the dispatcher holds at most 100,000, each long one by a digest.
  const big = { ...settings, maxTargets: 10_000_000 };
  const pad = 'x'.repeat(1000);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let n = 0; n < 110_000; n += MAX_ITEMS) {
    // Flat strings of their own (a slice or a concatenation could share one buffer and hide the cost).
    const items = Array.from({ length: MAX_ITEMS }, (_, i) => ({ target: Buffer.from(`/${n + i}/${pad}`.slice(0, 1024)).toString() }));
    d.decide({ ...args('f', items), settings: big, done: {} }, 0);
  }
  gc();
  const grew = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  console.log(`# 110,000 targets of 1 KiB: the dispatcher's heap grew ${grew.toFixed(1)} MiB`);
  assert.ok(grew < 48, `heap grew ${grew.toFixed(1)} MiB`);
});

test('past its bound of route tables, the one used least recently goes, not one in use', () => {
  const d = new SharedLard();
  const on = (route: string, items: DecideArgs['items'], done: Record<string, number> = {}) => d.decide({ ...args('f1', items, done), route }, 0).picks[0]!.id;
  // /a is placed on B (A kept out): remembered, it stays there; a table that forgot it would pick A (all idle, first).
  assert.equal(on('busy', [{ target: '/a', exclude: ['A'] }]), 'B');
  // Twenty other routes come and go (MAX_TABLES is 4); 'busy' is used between each, its last request done.
  for (let i = 0; i < 20; i++) {
    on(`other${i}`, [{ target: '/x' }]);
    assert.equal(on('busy', [{ target: '/a' }], { B: 1 }), 'B', `after route ${i}: /a's entry kept`);
  }
});

test('a front configuration with more LARD routes on one dispatcher than it keeps tables for is refused at load', () => {
  const route = (i: number, node: string) => ({ name: `r${i}`, match: { prefix: `/r${i}/` }, policy: 'lard', dispatcher: { node } });
  const config = (routes: unknown[]) => frontSchema.safeParse({ listen: { port: 1 }, node: 'A', backends: [{ id: 'x', host: '127.0.0.1', port: 1 }], routes });
  assert.equal(config([1, 2, 3, 4].map((i) => route(i, 'A'))).success, true);
  const refused = config([...[1, 2, 3, 4, 5].map((i) => route(i, 'A')), route(6, 'B')]);
  assert.equal(refused.success, false);
  assert.deepEqual(refused.error!.issues.map((i) => [i.path.join('.'), i.message]), [['routes.4.dispatcher', `the shared dispatcher on A keeps ${MAX_TABLES} routes' tables: this is route 5 on it (name another node, or let this route decide alone)`]]);
});

test('sizes a front reports place new targets by the bytes each server holds; unknown targets and bad sizes change nothing', () => {
  const d = new SharedLard();
  d.decide(args('f1', [{ target: '/big' }, { target: '/s1' }, { target: '/s2' }], { A: 1, B: 1, C: 1 }), 0);
  const sized = (sizes: DecideArgs['sizes']) => ({ ...args('f1', [{ target: '/next' }]), sizes });
  // /big on A is 9 MB, /s1 on B 1 MB, /s2 on C 2 MB: a new target goes to B (fewest bytes), though every load is 0.
  assert.equal(d.decide(sized([{ target: '/big', bytes: 9_000_000 }, { target: '/s1', bytes: 1_000_000 }, { target: '/s2', bytes: 2_000_000 }, { target: '/never-placed', bytes: 1 }]), 1).picks[0]!.id, 'B');
  const registry = new CommandRegistry();
  registerDispatcherCommands(registry, d);
  // Through the command (its schema) too: /next (on B) is 3 MB, so the next new target goes to C.
  registry.execute('lard.decide', { ...args('f1', []), sizes: [{ target: '/next', bytes: 3_000_000 }] }, { from: LOCAL });
  assert.equal(d.decide(args('f1', [{ target: '/after' }]), 2).picks[0]!.id, 'C');
  for (const bad of [[{ target: '/a', bytes: -1 }], [{ target: '/a', bytes: 1.5 }], Array.from({ length: MAX_ITEMS + 1 }, () => ({ target: '/a', bytes: 1 }))]) {
    assert.throws(() => registry.execute('lard.decide', { ...args('f1', []), sizes: bad }, { from: LOCAL }), /bad_args|invalid|too/i);
  }
});
