import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LOGIN_KEY, newSessionId } from '../../src/client/sessions.ts';
import type { LoadFigures } from '../../src/sessions/load.ts';
import { TestCluster } from '../harness/cluster.ts';

// A node's load through its `load` command: system load (the knob: COHORT_LOADAVG_FILE, read
// by the same code that reads /proc/loadavg) and user load (logged-in sessions it made, lately).
let c: TestCluster | undefined;
after(async () => c?.destroy());

test('load: the larger of the load average against fullAt and the active logged-in sessions against userLimit; anonymous sessions do not count', async () => {
  c = await TestCluster.create([{ id: 'A' }], { load: { fullAt: 2, userLimit: 4, sessionWindowMin: 10 } });
  const loadFile = join(c.dir, 'loadavg');
  writeFileSync(loadFile, '1.00 0.50 0.20 1/100 123\n');
  await c.start('A', { COHORT_LOADAVG_FILE: loadFile });
  const client = await c.client('A');
  const load = async () => (await client.call('A', 'load')) as LoadFigures;
  assert.deepEqual(await load(), { node: 'A', loadavg: 1, fullAt: 2, systemPercent: 50, sessions: 0, userLimit: 4, userPercent: 0, percent: 50 });
  const ids = [newSessionId('A'), newSessionId('A'), newSessionId('A'), newSessionId('A')];
  for (const [i, sid] of ids.entries()) await client.sessions.write(sid, { set: { i, [LOGIN_KEY]: `user${i}` }, expires: Date.now() + 60_000 });
  await client.sessions.destroy(ids[3]); // logged out: not a user any more
  assert.equal((await load()).userPercent, 75);
  // Anonymous sessions (a visit count, a cart, a login key unset or false) are not users: a flood of visitors does not fill the node.
  for (let i = 0; i < 10; i++) await client.sessions.write(newSessionId('A'), { set: { visits: i }, expires: Date.now() + 60_000 });
  await client.sessions.write(newSessionId('A'), { set: { [LOGIN_KEY]: false }, expires: Date.now() + 60_000 });
  await client.sessions.write(ids[0], { unset: [LOGIN_KEY], expires: Date.now() + 60_000 }); // logged out, the session kept
  assert.equal((await load()).sessions, 2);
  await client.sessions.write(ids[0], { set: { [LOGIN_KEY]: 'user0' }, expires: Date.now() + 60_000 });
  assert.equal((await load()).percent, 75);
  // Sessions another node made, or expired ones, do not count.
  await client.sessions.write(newSessionId('Z'), { set: { [LOGIN_KEY]: 'z' }, expires: Date.now() + 60_000 });
  await client.sessions.write(newSessionId('A'), { set: { [LOGIN_KEY]: 'x' }, expires: Date.now() - 1 });
  assert.equal((await load()).sessions, 3);
  writeFileSync(loadFile, '5.00 0.50 0.20 1/100 123\n');
  assert.equal((await load()).percent, 250);
});
