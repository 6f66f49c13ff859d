import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { Learner } from '../../src/scenario/learner.ts';
import { processRunning } from '../../src/process-state.ts';

// The scenario's i-down step: a server just killed must look refused to a learner who never used it,
// even when earlier learners left keep-alive connections to it in this process's fetch pool, and
// as soon as the scenario holds it for gone (processRunning(): all its threads exited, not just the main one).

test('a killed server is refused, not reset, though pooled connections to it remain', async () => {
  const server = spawn(process.execPath, ['-e', `
    const s = require('node:http').createServer((req, res) => res.end('hi'));
    s.keepAliveTimeout = 60000;
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(server.stdout!, 'data');
  const url = `http://127.0.0.1:${String(line).trim()}/`;
  // Earlier learners: keep-alive connections pooled by fetch.
  await Promise.all([1, 2, 3].map(async () => (await fetch(url)).text()));
  server.kill('SIGKILL');
  // Wait as the scenario does, but without a turn of the event loop, so the pool has not yet seen the close.
  const until = Date.now() + 10_000;
  while (processRunning(server.pid!)) if (Date.now() > until) throw new Error('server still there');
  const tries = await Promise.all([1, 2, 3].map(() => new Learner({ user: 'h', domain: 'd', password: 'p' }, url).reach()));
  assert.deepEqual(tries, ['refused', 'refused', 'refused']);
});
