import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RegistrySnapshot } from '../../src/supervisor/registry.ts';
import { after, before, describe, it } from 'node:test';
import { TestCluster } from '../harness/cluster.ts';
import { ADMIN_TOKEN, FrontCluster } from '../harness/front-cluster.ts';
import { freePortRange } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { copyStored, nodeHttp } from '../replication/helpers.ts';
import { parseExposition, value } from '../harness/prometheus.ts';

const NODE_ADMIN_TOKEN = 'node-admin-token-metrics-0123';

describe('node /metrics', () => {
  let c: TestCluster;
  const scrape = async (id: string) => {
    const r = await nodeHttp(c, id, '/metrics', { headers: { authorization: `Bearer ${NODE_ADMIN_TOKEN}` } });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return parseExposition(r.body.toString());
  };

  before(async () => {
    const basePort = await freePortRange(10);
    const app = { command: [process.execPath, fileURLToPath(new URL('../harness/test-app.ts', import.meta.url))], instances: 1, basePort, portSpan: 10, health: { intervalMs: 200, timeoutMs: 200, fails: 2 }, backoff: { minMs: 200, maxMs: 1000 } };
    c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C', app }, { id: 'D' }], {
      link: { heartbeatMs: 300, deadAfterMs: 1000, backoffMinMs: 100, backoffMaxMs: 1000 },
      critical: { waitMs: 300, retries: 1, retryDelayMs: 100 },
      admin: { token: NODE_ADMIN_TOKEN },
    });
    await c.startAll();
    await waitFor('links up', () => c.linksUp(), 15_000);
  });
  after(() => c?.destroy());

  it("with the host table's admin token, a node's dashboard and /metrics ask for it (a scraper sends it)", async () => {
    assert.equal((await nodeHttp(c, 'A', '/dashboard')).status, 401);
    assert.equal((await nodeHttp(c, 'A', '/metrics')).status, 401);
    const page = await nodeHttp(c, 'A', `/dashboard?token=${NODE_ADMIN_TOKEN}`);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /node A/);
  });

  it('parses as Prometheus text, with each peer link up and the process metrics', async () => {
    const s = await scrape('A');
    assert.equal(value(s, 'cohort_link_up', { peer: 'C' }), 1);
    assert.equal(value(s, 'cohort_link_up', { peer: 'D' }), 1);
    assert.equal(value(s, 'cohort_link_up', { peer: 'A' }), undefined, 'no link to itself');
    for (const peer of ['C', 'D']) {
      const rtt = value(s, 'cohort_link_rtt_seconds', { peer })!;
      assert.ok(rtt > 0 && rtt < 1, `RTT to ${peer}: ${rtt}`);
    }
    assert.equal(value(s, 'cohort_outbox_messages', { peer: 'C' }), 0);
    assert.equal(value(s, 'cohort_outbox_dead_letters'), 0);
    assert.equal(value(s, 'cohort_resource_transfers_total', { result: 'ok' }), 0);
    assert.equal(value(s, 'cohort_app_restarts_total'), 0);
    assert.ok(value(s, 'process_cpu_user_seconds_total')! >= 0);
    assert.ok(s.every((x) => x.labels.node === 'A'), 'every series carries node="A"');
    assert.equal((await nodeHttp(c, 'A', '/metrics', { headers: { 'x-forwarded-for': '10.0.0.1', authorization: `Bearer ${NODE_ADMIN_TOKEN}` } })).status, 404, 'not through a front');
  });

  it('a resource replicated to C counts one transfer and its bytes', async () => {
    await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
    const page = Buffer.from('<p>' + 'x'.repeat(4000) + '</p>\n');
    const file = join(c.dir, 'page.html');
    writeFileSync(file, page);
    await (await c.client('A')).call('A', 'res.publish', { url: '/res/msu/ann/m/page.html', file });
    const home = await scrape('A');
    assert.equal(value(home, 'cohort_resource_memory_cache_bytes'), page.length, 'a resource just published is held in memory on its home');
    assert.equal(value(home, 'cohort_resource_memory_cache_entries'), 1);
    const r = await nodeHttp(c, 'C', '/res/msu/ann/m/page.html');
    assert.equal(r.status, 200);
    await copyStored(c, 'C', '/res/msu/ann/m/page.html'); // answered from the checked bytes, stored just after
    const s = await scrape('C');
    assert.equal(value(s, 'cohort_resource_transfers_total', { result: 'ok' }), 1);
    assert.equal(value(s, 'cohort_resource_transfers_total', { result: 'failed' }), 0);
    assert.equal(value(s, 'cohort_resource_transfer_bytes_total'), page.length);
    // Its bytes are held in memory for the next requests.
    assert.equal(value(s, 'cohort_resource_memory_cache_bytes'), page.length);
    assert.equal(value(s, 'cohort_resource_memory_cache_entries'), 1);
  });

  it('an app instance killed with -9 counts one restart', async () => {
    const ready = async () => ((await (await c.client('C')).call('C', 'app.registry')) as RegistrySnapshot).instances.find((i) => i.state === 'ready');
    const victim = await waitFor('an app instance ready on C', ready, 10_000);
    assert.equal(value(await scrape('C'), 'cohort_app_restarts_total'), 0);
    process.kill(victim.pid!, 'SIGKILL');
    await waitFor('one restart in /metrics', async () => value(await scrape('C'), 'cohort_app_restarts_total') === 1, 10_000, 100);
  });

  it('a killed peer shows as down; a critical message to it counts as delayed and waits in the outbox', async () => {
    const client = await c.client('A');
    assert.equal((await client.critical('C', 'journal.append', { stream: 'm', entry: 1 })).status, 'ok');
    await c.kill('D');
    await waitFor('link A→D down in /metrics', async () => value(await scrape('A'), 'cohort_link_up', { peer: 'D' }) === 0, 10_000, 100);
    assert.equal((await client.critical('D', 'journal.append', { stream: 'm', entry: 2 })).status, 'delayed');
    await assert.rejects(client.critical('Z', 'journal.append', { stream: 'm', entry: 3 }), { code: 'no_such_host' });
    const s = await scrape('A');
    assert.equal(value(s, 'cohort_link_up', { peer: 'C' }), 1);
    assert.equal(value(s, 'cohort_link_rtt_seconds', { peer: 'D' }), undefined, 'no RTT for a link that is down');
    assert.equal(value(s, 'cohort_critical_messages_total', { outcome: 'ok' }), 1);
    assert.equal(value(s, 'cohort_critical_messages_total', { outcome: 'delayed' }), 1);
    assert.equal(value(s, 'cohort_critical_messages_total', { outcome: 'refused' }), 1);
    assert.equal(value(s, 'cohort_outbox_messages', { peer: 'D' }), 1);
    assert.ok(value(s, 'cohort_critical_delivered_total', { peer: 'C' })! >= 1);
  });
});

// Configured ids that look like an app instance's `<node>.<slot>.<generation>`: each keeps series of its own.
const B1 = '10.0.0.5';
const B2 = '10.0.0.6';

describe('front /metrics', () => {
  let fc: FrontCluster;
  const scrape = async (token = ADMIN_TOKEN) => {
    const res = await fetch(`http://127.0.0.1:${fc.adminPort}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };
  const metrics = async () => {
    const r = await scrape();
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    return parseExposition(r.text);
  };

  before(async () => {
    fc = await FrontCluster.create([B1, B2]);
    await fc.startFront();
    await waitFor('every back-end ready', () => fc.allReady());
  });
  after(() => fc?.destroy());

  it('behind the admin token, like /status', async () => {
    assert.equal((await scrape('')).status, 401);
    assert.equal((await scrape('wrong')).status, 401);
  });

  it('counts requests per back-end and status class, with the latency histogram; front-made errors by reason', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${fc.url}/m${i}`);
      const b = ((await r.json()) as { backend: string }).backend;
      seen.set(b, (seen.get(b) ?? 0) + 1);
    }
    assert.equal((await fetch(`${fc.url}/status/404`)).status, 404);
    const s = await metrics();
    const route = s.find((x) => x.name === 'cohort_front_requests_total')!.labels.route;
    let notFound = 0;
    for (const b of [B1, B2]) {
      const ok = value(s, 'cohort_front_requests_total', { route, backend: b, code_class: '2xx' }) ?? 0;
      assert.equal(ok, seen.get(b) ?? 0, `2xx from ${b}`);
      const c4 = value(s, 'cohort_front_requests_total', { route, backend: b, code_class: '4xx' }) ?? 0;
      notFound += c4;
      assert.equal(value(s, 'cohort_front_request_duration_seconds_count', { route, backend: b }), ok + c4);
      assert.equal(value(s, 'cohort_front_request_duration_seconds_bucket', { route, backend: b, le: '+Inf' }), ok + c4);
      assert.equal(value(s, 'cohort_front_backend_up', { backend: b }), 1);
      assert.equal(value(s, 'cohort_front_backend_active_requests', { backend: b }), 0);
    }
    assert.equal(notFound, 1);
    assert.equal(value(s, 'cohort_front_tunnels'), 0);
    assert.equal(value(s, 'cohort_front_maintenance_pages_total'), 0);
    assert.ok(value(s, 'cohort_front_client_connections', { protocol: 'http/1.1' })! >= 0);
    assert.equal(value(s, 'cohort_front_client_connections', { protocol: 'h2' }), 0);
    assert.equal(value(s, 'cohort_front_h2_streams'), 0);
    assert.equal(value(s, 'cohort_front_retries_total', { route, backend: B1 }), undefined, 'no retries yet');
    // A back-end that closes without answering: the GET is tried again on the other, which does the same
    // (then no back-end is left to try: 503).
    assert.equal((await fetch(`${fc.url}/hang`)).status, 503);
    const afterHang = await metrics();
    const retried = [B1, B2].reduce((n, b) => n + (value(afterHang, 'cohort_front_retries_total', { route, backend: b }) ?? 0), 0);
    assert.ok(retried >= 1, `retries counted: ${retried}`);
    // Both back-ends down: the front answers 503 itself.
    await Promise.all([fc.killBackend(B1), fc.killBackend(B2)]);
    await waitFor('both back-ends down in /metrics', async () => {
      const m = await metrics();
      return value(m, 'cohort_front_backend_up', { backend: B1 }) === 0 && value(m, 'cohort_front_backend_up', { backend: B2 }) === 0;
    }, 10_000, 100);
    assert.equal((await fetch(`${fc.url}/x`)).status, 503);
    assert.equal(value(await metrics(), 'cohort_front_errors_total', { route, reason: 'no_backend' }), 2, '/hang, then /x');
  });

  it('a back-end removed by a reload leaves no series behind', async () => {
    fc.writeConfig({ backends: [{ id: B2, host: '127.0.0.1', port: fc.backendPorts.get(B2) }] });
    const r = await fetch(`http://127.0.0.1:${fc.adminPort}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(r.status, 200);
    const s = await metrics();
    assert.ok(!s.some((x) => x.labels.backend === B1), 'no series of the removed back-end');
    assert.ok(s.some((x) => x.labels.backend === B2), 'the other stays');
  });
});
