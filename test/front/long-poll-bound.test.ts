import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { z } from 'zod';
import { followLongPoll, POLL_BACKOFF } from '../../src/front/long-poll.ts';
import { MAX_WAITERS } from '../../src/supervisor/registry.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

// A node holds at most MAX_WAITERS long polls of one value. Past that it refuses a poll
// (rate_limited); a follower then backs off with the links' Backoff. Before, the node answered
// at once with the version the follower had, and the follower asked again at once: a hot loop.
let c: TestCluster | undefined;
after(async () => c?.destroy());

const answer = z.object({ boot: z.string(), version: z.number().int() }).passthrough();
const WAIT_MS = 8000;

test('a follower of a node past its bound of long polls backs off instead of spinning', async () => {
  c = await TestCluster.create([{ id: 'A', role: 'access' }]);
  await c.start('A');
  const client = await c.client('A');
  const now = answer.parse(await client.call('A', 'maintenance.get', {}));
  const poll = { after: now.version, boot: now.boot, waitMs: WAIT_MS };
  // Fill the node's waiters (they are answered when the polls time out, WAIT_MS from now).
  const filled = performance.now();
  const fillers = Array.from({ length: MAX_WAITERS }, () => client.call('A', 'maintenance.get', poll).catch(() => undefined));
  // Full: one more poll is not held (refused now; answered at once before).
  await waitFor('the node to hold no more polls', async () => {
    const t = performance.now();
    try {
      await client.call('A', 'maintenance.get', poll);
    } catch (err) {
      if ((err as { code?: string }).code === 'rate_limited') return true;
      throw err;
    }
    return performance.now() - t < 1000;
  }, WAIT_MS / 2, 50);

  let calls = 0;
  const failures: string[] = [];
  const follower = followLongPoll({
    call: (to, cmd, args) => {
      calls++;
      return client.call(to, cmd, args);
    },
    node: 'A',
    command: 'maintenance.get',
    schema: answer,
    waitMs: WAIT_MS,
    backoff: POLL_BACKOFF,
    answer: () => {},
    failed: (message) => failures.push(message),
    recovered: () => {},
  });
  const started = performance.now();
  await new Promise((r) => setTimeout(r, 2000));
  const seconds = (performance.now() - started) / 1000;
  const perSecond = calls / seconds;
  follower.stop();
  // The node stayed full all along: the measurement ended before the fillers' polls timed out.
  assert.ok(performance.now() - filled < WAIT_MS, `filled and measured in ${Math.round(performance.now() - filled)} ms, within the polls' ${WAIT_MS} ms`);
  process.stdout.write(`# a follower of a full node: ${calls} requests in ${seconds.toFixed(1)} s (${perSecond.toFixed(1)}/s)\n`);
  assert.ok(perSecond <= 4, `${calls} requests in ${seconds.toFixed(1)} s: the follower must back off (min ${POLL_BACKOFF.minMs} ms, doubling)`);
  assert.match(failures[0] ?? '', new RegExp(`${MAX_WAITERS} long polls wait here already`), 'the refusal says why');
  await Promise.all(fillers);
});
