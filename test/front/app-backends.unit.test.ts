import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { AppRegistries } from '../../src/front/app-backends.ts';
import { waitFor } from '../harness/wait.ts';

// What the front makes of a node's registry answers; the nodes here are scripted, the
// real ones are in test/supervisor/front-apps.test.ts.
const log = pino({ level: 'silent' });
const inst = (id: string, state: string, port: number | null) => ({ id, slot: 0, state, host: '127.0.0.1', port, pid: 1, startedAt: 1, requests: 0, restarts: 0, sessions: null, rssBytes: null, lastError: null, retryAt: null });
const snap = (node: string, version: number, instances: unknown[]) => ({ node, boot: 'b1', version, command: ['x'], problem: null, reload: { state: 'idle', replaced: 0, total: 0, error: null }, instances });

/** A node that answers each call with the next scripted reply, then holds the long poll open. */
function scripted(replies: Record<string, unknown[]>) {
  const calls: { to: string; args: unknown }[] = [];
  const call = async (to: string, _cmd: string, args?: unknown) => {
    calls.push({ to, args });
    const next = replies[to]?.shift();
    if (next === undefined) return new Promise(() => {});
    if (next instanceof Error) throw next;
    return next;
  };
  return { call, calls };
}

test('ready and dying instances with a port become back-ends; starting, stopped and portless ones do not', async () => {
  const { call, calls } = scripted({ A: [snap('A', 3, [inst('A.0.1', 'ready', 9001), inst('A.1.1', 'dying', 9002), inst('A.2.1', 'starting', 9003), inst('A.3.1', 'stopped', 9004), inst('A.4.1', 'ready', null)])] });
  const r = new AppRegistries(call, () => '127.0.0.1', log, () => {});
  await r.follow(['A'], 1000);
  assert.deepEqual(r.backends().map((b) => [b.def.id, b.def.port, b.dying]), [['A.0.1', 9001, false], ['A.1.1', 9002, true]]);
  await waitFor('the long poll for the next version', () => calls.length === 2);
  assert.deepEqual(calls[1].args, { after: 3, boot: 'b1', waitMs: 8000 });
  r.stop();
});

test('a malformed or foreign answer (the registry of another node, an instance of another node or on another host) is refused and the last known instances stay', async () => {
  const { call } = scripted({ A: [snap('A', 1, [inst('A.0.1', 'ready', 9001)]), snap('A', 2, [inst('A.0.1; rm -rf', 'ready', 9001)]), snap('B', 3, []), snap('A', 4, [inst('B.0.1', 'ready', 9001)]), snap('A', 5, [{ ...inst('A.0.2', 'ready', 22), host: '10.0.0.9' }]), new Error('con_lost')] });
  let changes = 0;
  const r = new AppRegistries(call, () => '127.0.0.1', log, () => changes++, { backoff: { minMs: 1, maxMs: 2 } });
  await r.follow(['A'], 1000);
  await waitFor('the error to be reported', () => r.status().A.error === 'con_lost');
  assert.equal(changes, 1);
  assert.deepEqual(r.backends().map((b) => b.def.id), ['A.0.1']);
  r.stop();
});

test('a node no longer followed takes its instances with it', async () => {
  const { call } = scripted({ A: [snap('A', 1, [inst('A.0.1', 'ready', 9001)])], B: [snap('B', 1, [inst('B.0.1', 'ready', 9101)])] });
  let changes = 0;
  const r = new AppRegistries(call, () => '127.0.0.1', log, () => changes++);
  await r.follow(['A', 'B'], 1000);
  assert.equal(r.backends().length, 2);
  await r.follow(['B']);
  assert.deepEqual(r.backends().map((b) => b.def.id), ['B.0.1']);
  assert.equal(changes, 3);
  assert.deepEqual(Object.keys(r.status()), ['B']);
  r.stop();
});
