import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lifecycle, type Part } from '../../src/node/lifecycle.ts';

// A node's parts: started in their declared order, drained then stopped in reverse, and a start
// that fails stops what had started (and only that) before its error reaches the caller.
function recorder(steps: string[], name: string, failStart = false): Part {
  return {
    start: async () => {
      await Promise.resolve();
      if (failStart) throw new Error(`${name} cannot start`);
      steps.push(`start ${name}`);
    },
    drain: () => void steps.push(`drain ${name}`),
    stop: async () => void steps.push(`stop ${name}`),
  };
}

test('parts start in order; stop drains every part in reverse, then stops every part in reverse', async () => {
  const steps: string[] = [];
  const parts = new Lifecycle({ a: recorder(steps, 'a'), b: { start: () => void steps.push('start b') }, c: recorder(steps, 'c') });
  await parts.start();
  await parts.stop();
  assert.deepEqual(steps, ['start a', 'start b', 'start c', 'drain c', 'drain a', 'stop c', 'stop a']);
  await parts.stop();
  assert.equal(steps.length, 7, 'a second stop does nothing');
});

test('a start that fails stops the parts already started, not the one that failed nor later ones, and throws its error', async () => {
  const steps: string[] = [];
  const parts = new Lifecycle({ a: recorder(steps, 'a'), b: recorder(steps, 'b'), c: recorder(steps, 'c', true), d: recorder(steps, 'd') });
  await assert.rejects(parts.start(), /c cannot start/);
  assert.deepEqual(steps, ['start a', 'start b', 'drain b', 'drain a', 'stop b', 'stop a']);
});

test('a part whose drain or stop throws does not keep the others from stopping; the errors come at the end', async () => {
  const steps: string[] = [];
  const broken: Part = { start: () => void steps.push('start b'), stop: () => { throw new Error('b cannot stop'); } };
  const parts = new Lifecycle({ a: recorder(steps, 'a'), b: broken, c: recorder(steps, 'c') });
  await parts.start();
  await assert.rejects(parts.stop(), /b cannot stop/);
  assert.deepEqual(steps, ['start a', 'start b', 'start c', 'drain c', 'drain a', 'stop c', 'stop a']);
});

test("status: each part's state in declared order, and while it runs what it says of itself", async () => {
  let release!: () => void;
  const slowDrain = new Promise<void>((resolve) => (release = resolve));
  const parts = new Lifecycle({
    database: { status: () => ({ ok: false, detail: 'quick_check found 1 problem' }) },
    links: { status: () => ({ ok: true, detail: '2 of 3 links up' }) },
    apps: { drain: () => slowDrain },
    broken: { status: () => { throw new Error('no figures'); } },
  });
  assert.deepEqual(parts.status().map((p) => [p.part, p.state, p.ok]), [['database', 'waiting', false], ['links', 'waiting', false], ['apps', 'waiting', false], ['broken', 'waiting', false]]);
  await parts.start();
  assert.deepEqual(parts.status(), [
    { part: 'database', state: 'running', ok: false, detail: 'quick_check found 1 problem' },
    { part: 'links', state: 'running', ok: true, detail: '2 of 3 links up' },
    { part: 'apps', state: 'running', ok: true },
    { part: 'broken', state: 'running', ok: false, detail: 'its status failed: no figures' },
  ]);
  const stopping = parts.stop();
  await new Promise((resolve) => setImmediate(resolve)); // stop has reached the apps' drain, which waits
  assert.equal(parts.status().find((p) => p.part === 'apps')!.state, 'draining', 'a part draining says so');
  release();
  await stopping;
  assert.deepEqual(parts.status().map((p) => p.state), ['stopped', 'stopped', 'stopped', 'stopped']);
});

test('a part whose start fails is failed; the ones after it still wait', async () => {
  const parts = new Lifecycle({ a: {}, b: { start: () => { throw new Error('no port'); } }, c: {} });
  await assert.rejects(parts.start(), /no port/);
  assert.deepEqual(parts.status().map((p) => [p.part, p.state]), [['a', 'stopped'], ['b', 'failed'], ['c', 'waiting']]);
});
