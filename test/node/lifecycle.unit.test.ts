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
  const parts = new Lifecycle([recorder(steps, 'a'), { start: () => void steps.push('start b') }, recorder(steps, 'c')]);
  await parts.start();
  await parts.stop();
  assert.deepEqual(steps, ['start a', 'start b', 'start c', 'drain c', 'drain a', 'stop c', 'stop a']);
  await parts.stop();
  assert.equal(steps.length, 7, 'a second stop does nothing');
});

test('a start that fails stops the parts already started, not the one that failed nor later ones, and throws its error', async () => {
  const steps: string[] = [];
  const parts = new Lifecycle([recorder(steps, 'a'), recorder(steps, 'b'), recorder(steps, 'c', true), recorder(steps, 'd')]);
  await assert.rejects(parts.start(), /c cannot start/);
  assert.deepEqual(steps, ['start a', 'start b', 'drain b', 'drain a', 'stop b', 'stop a']);
});

test('a part whose drain or stop throws does not keep the others from stopping; the errors come at the end', async () => {
  const steps: string[] = [];
  const broken: Part = { start: () => void steps.push('start b'), stop: () => { throw new Error('b cannot stop'); } };
  const parts = new Lifecycle([recorder(steps, 'a'), broken, recorder(steps, 'c')]);
  await parts.start();
  await assert.rejects(parts.stop(), /b cannot stop/);
  assert.deepEqual(steps, ['start a', 'start b', 'start c', 'drain c', 'drain a', 'stop c', 'stop a']);
});
