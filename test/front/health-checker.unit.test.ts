import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Backend } from '../../src/front/backend.ts';
import { frontSchema } from '../../src/front/config.ts';
import { HealthChecker } from '../../src/front/health.ts';
import { waitFor } from '../harness/wait.ts';

// The health ticker runs at the shortest interval of the routes, also when a route's back-ends
// come after the start (`backends: apps`: the registries may answer later than the front starts).
test('a back-end that comes after the start is checked at its route\'s interval, not the front-wide one', async () => {
  let checks = 0;
  const server = createServer((_req, res) => {
    checks++;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const routeCfg = frontSchema.parse({ listen: { port: 1 }, backends: [{ id: 'x', host: '127.0.0.1', port }], health: { intervalMs: 100, timeoutMs: 100, slowStartMs: 0 } });
  const list: Backend[] = [];
  // Front-wide 5 s (the default is 2 s), the route 100 ms; no back-end known at the start.
  const checker = new HealthChecker(() => list, () => [5000, 100]);
  checker.start();
  const late = new Backend({ id: 'late', host: '127.0.0.1', port, weight: 1 }, routeCfg);
  list.push(late);
  try {
    await waitFor('five checks of the late back-end', () => checks >= 5, 3000);
  } finally {
    checker.stop();
    late.close();
    server.close();
  }
});
