import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { frontSchema } from '../../src/front/config.ts';
import { buildGeneration } from '../../src/front/generation.ts';
import type { HostTable } from '../../src/config/host-table.ts';

// Live traffic ejects at most health.maxEjectedPercent of a route's back-ends at once, and always
// one (Envoy's max_ejection_percent): a rolling restart that refuses connections on each back-end
// in turn must not leave the route with none (seen in bench:supervisor: four instances restarted
// one after the other within 1.5 s were all ejected for 10 s, and the front answered 503 meanwhile).
function generation(front: Record<string, unknown>) {
  const cfg = frontSchema.parse({ listen: { port: 1 }, ...front });
  const g = buildGeneration({ table: { nodes: [] } as unknown as HostTable, cfg, apps: [], previous: undefined, call: undefined, loads: { get: () => undefined } as never, log: pino({ level: 'silent' }) });
  g.commit();
  return g.state;
}
const four = ['a', 'b', 'c', 'd'].map((id, i) => ({ id, host: '127.0.0.1', port: 10 + i }));
const ejected = (list: { ejectedUntil: number }[], now: number) => list.map((b) => b.ejectedUntil > now);

test('connection failures on every back-end eject half of them (the default), the rest stay and say why', () => {
  const { routes } = generation({ backends: four, health: { slowStartMs: 0 } });
  const list = routes[0].list;
  const now = 1_000_000;
  for (const b of list) b.unreachable('connect ECONNREFUSED', now);
  assert.deepEqual(ejected(list, now), [true, true, false, false]);
  assert.match(list[2].history.at(-1)!.detail, /not ejected \(health\.maxEjectedPercent/);
  // Once an ejection is lifted, another may go.
  list[0].recovered(now + 1);
  list[2].unreachable('connect ECONNREFUSED', now + 2);
  assert.ok(list[2].ejectedUntil > now + 2);
  for (const b of list) b.close();
});

test('10 %: one of four, always at least one; bursts of 5xx count as connection failures do; the error list stays short', () => {
  const { routes } = generation({ backends: four, health: { slowStartMs: 0, maxEjectedPercent: 10 } });
  const list = routes[0].list;
  const now = 2_000_000;
  for (const b of list) for (let i = 0; i < 50; i++) b.served(false, 'status 502', now + i);
  assert.deepEqual(ejected(list, now + 100), [true, false, false, false]);
  // Refused ejections keep no more errors than it takes to eject.
  assert.ok((list[3] as unknown as { recentErrors: number[] }).recentErrors.length <= 5);
  for (const b of list) b.close();
});

test('a back-end active checks hold down takes no place; one several routes list is ejected only if each route allows it', () => {
  const { routes } = generation({
    backends: four,
    health: { slowStartMs: 0, maxEjectedPercent: 10 },
    routes: [
      { name: 'small', match: { prefix: '/s/' }, backends: four.slice(0, 2) },
      { name: 'all', match: { prefix: '/' }, backends: [...four, ...['e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't'].map((id, i) => ({ id, host: '127.0.0.1', port: 20 + i }))] },
    ],
  });
  const [small, all] = routes;
  assert.equal(small.list[0], all.list[0], 'the same object in both routes');
  const now = 3_000_000;
  small.list[0].unreachable('connect ECONNREFUSED', now);
  // 'all' (20 back-ends, 10 %) would allow a second; 'small' (2) would not: b stays.
  small.list[1].unreachable('connect ECONNREFUSED', now);
  assert.deepEqual(ejected(small.list, now), [true, false]);
  // a is down by its active checks too: it no longer holds the place, so b may go.
  small.list[0].healthy = false;
  small.list[1].unreachable('connect ECONNREFUSED', now + 1);
  assert.ok(small.list[1].ejectedUntil > now + 1);
  for (const b of all.list) b.close();
});
