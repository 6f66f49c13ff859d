import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { frontSchema } from '../../src/front/config.ts';
import { buildGeneration } from '../../src/front/generation.ts';
import type { HostTable } from '../../src/config/host-table.ts';

// Live traffic ejects at most health.maxEjectedPercent of a route's back-ends at once, and always
// one (Envoy's max_ejection_percent): a rolling restart that refuses connections on each back-end
// in turn must not leave the route with none (seen in bench:supervisor: four instances reloaded one
// after the other within 1.5 s were all ejected for 10 s, and the front answered 503 meanwhile).
function generation(maxEjectedPercent?: number) {
  const cfg = frontSchema.parse({
    listen: { port: 1 },
    backends: ['a', 'b', 'c', 'd'].map((id, i) => ({ id, host: '127.0.0.1', port: 10 + i })),
    health: { slowStartMs: 0, ...(maxEjectedPercent === undefined ? {} : { maxEjectedPercent }) },
  });
  const g = buildGeneration({ table: {} as HostTable, cfg, apps: [], previous: undefined, call: undefined, loads: { get: () => undefined } as never, log: pino({ level: 'silent' }) });
  g.commit();
  return g.state.routes[0].list;
}

test('connection failures on every back-end eject one of four (10 %: at least one); the others stay, and say why', () => {
  const list = generation();
  const now = 1_000_000;
  for (const b of list) b.unreachable('connect ECONNREFUSED', now);
  assert.deepEqual(list.map((b) => b.ejectedUntil > now), [true, false, false, false]);
  assert.match(list[1].history.at(-1)!.detail, /not ejected \(health\.maxEjectedPercent/);
  // Once its ejection is over (or lifted), another may go.
  list[0].recovered(now + 1);
  list[1].unreachable('connect ECONNREFUSED', now + 2);
  assert.ok(list[1].ejectedUntil > now + 2);
  for (const b of list) b.close();
});

test('errors from live traffic: the cap holds for bursts of 5xx too; 50 % lets two of four go', () => {
  const list = generation(50);
  const now = 2_000_000;
  for (const b of list) for (let i = 0; i < 5; i++) b.served(false, 'status 502', now + i);
  assert.equal(list.filter((b) => b.ejectedUntil > now + 10).length, 2);
  for (const b of list) b.close();
});
