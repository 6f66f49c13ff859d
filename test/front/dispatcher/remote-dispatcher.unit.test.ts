import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { DecideArgs } from '../../../src/dispatcher/shared-lard.ts';
import { Backend } from '../../../src/front/backend.ts';
import { frontSchema } from '../../../src/front/config.ts';
import { RemoteDispatcher } from '../../../src/front/dispatcher/remote-dispatcher.ts';
import { LardPolicy } from '../../../src/front/policies/lard.ts';
import { waitFor } from '../../harness/wait.ts';

// What a front tells its shared dispatcher besides the targets to place: the completions, and the
// sizes of targets answered whole (once each, again only when a size changes).
const cfg = frontSchema.parse({ listen: { port: 1 }, backends: [{ id: 'x', host: '127.0.0.1', port: 1 }], health: { slowStartMs: 0 } });
const backends = [new Backend({ id: 'b1', host: '127.0.0.1', port: 1, weight: 1, node: 'N1' }, cfg), new Backend({ id: 'b2', host: '127.0.0.1', port: 2, weight: 1, node: 'N2' }, cfg)];

test('sizes of targets answered whole ride with the next batch, each once, the query kept', async () => {
  const sent: DecideArgs[] = [];
  const call = async (_to: string, _cmd: string, args: unknown) => {
    const a = args as DecideArgs;
    sent.push(a);
    return { picks: a.items.map(() => ({ id: 'b1', why: 'test' })) };
  };
  const remote = new RemoteDispatcher({ call, node: 'D', route: 'r', local: new LardPolicy('lard_r'), timeoutMs: 1000, log: pino({ level: 'silent' }) });
  const d = await remote.decide('/cgi?q=1', backends);
  assert.equal(d.backend?.id, 'b1');
  assert.equal(sent[0].items[0].target, '/cgi?q=1', 'the dispatcher places the target with its query');
  remote.completed('b1', d.front);
  remote.sized('/cgi?q=1', 4096);
  await waitFor('the completion and the size sent', () => sent.length === 2, 2000);
  assert.deepEqual(sent[1].sizes, [{ target: '/cgi?q=1', bytes: 4096 }]);
  assert.deepEqual(sent[1].done, { b1: 1 });
  // The same size again is not sent again; a changed one is.
  remote.sized('/cgi?q=1', 4096);
  await remote.decide('/other', backends);
  assert.equal(sent[2].sizes, undefined);
  remote.sized('/cgi?q=1', 5000);
  await remote.decide('/third', backends);
  assert.deepEqual(sent[3].sizes, [{ target: '/cgi?q=1', bytes: 5000 }]);
  // A long target is told by the dispatcher's own key for it (a digest of its first KiB): nothing holds the long string.
  const long = `/long?${'x'.repeat(20_000)}`;
  await remote.decide(long, backends);
  assert.equal(sent[4].items[0].target.length, 1024);
  remote.sized(long, 7);
  await remote.decide('/fourth', backends);
  assert.equal(sent[5].sizes?.length, 1);
  assert.ok(sent[5].sizes![0].target.startsWith('#') && sent[5].sizes![0].target.length <= 128);
  remote.stop();
});
