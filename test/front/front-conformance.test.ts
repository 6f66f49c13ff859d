import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, FrontCluster } from '../harness/front-cluster.ts';
import { RawBackend } from '../harness/raw-backend.ts';
import { parseResponses, RawHttp, type RawTls } from '../harness/raw-http.ts';
import { issueTestCert, makeTestCa } from '../harness/test-certs.ts';
import { waitFor } from '../harness/wait.ts';
import { ROWS } from './conformance-table.ts';

// The HTTP/1.1 conformance suite of the front: the table is in conformance-table.ts, one row
// per rule with the RFC section it checks; the note of each test names its section.
// The table runs twice: over plain HTTP, and over the front's HTTPS listener (the same rules hold).
for (const overTls of [false, true]) describe(`the front conforms to HTTP/1.1 (RFC 9110, 9112, 6455), row by row${overTls ? ', over TLS' : ''}`, () => {
  let fc: FrontCluster;
  let backend: RawBackend;
  let tls: RawTls | undefined;

  before(async () => {
    backend = await RawBackend.start();
    fc = await FrontCluster.create([], {
      backends: [{ id: 'raw', host: '127.0.0.1', port: backend.port }],
      // Small enough that a body of a few hundred bytes streams (the 101-before-the-body row).
      limits: { replayBodyBytes: 64 },
      // Bad answers are the point here: they must not eject the only back-end.
      health: { path: '/healthz', intervalMs: 200, timeoutMs: 500, rise: 1, fall: 1, slowStartMs: 0, errorsToEject: 1_000_000 },
    });
    if (overTls) {
      tls = { ca: makeTestCa(fc.dir), servername: 'front.example' };
      const cert = issueTestCert(fc.dir, 'front', ['front.example'], 'ec');
      fc.writeConfig({ ...fc.frontConfig, listen: { host: '127.0.0.1', port: fc.port, tls: { certificates: [{ cert: cert.cert, key: cert.key }] } } });
    }
    await fc.startFront();
    await waitFor('the raw back-end ready', () => fc.allReady());
  });
  after(async () => {
    await fc.destroy();
    await backend.close();
  });

  const admin = async (method: string, path: string) => {
    const res = await fetch(`http://127.0.0.1:${fc.adminPort}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200, await res.text());
  };

  for (const row of ROWS) {
    it(`${row.section}: ${row.rule}`, async () => {
      backend.reset(row.backend, row.early);
      if (row.drained) await admin('POST', '/backends/raw/drain');
      const c = await RawHttp.open(fc.port, tls);
      try {
        const want = row.responses ?? 1;
        let lastSent = 0;
        for (let i = 0; i < row.send.length; i++) {
          lastSent = Date.now();
          c.write(row.send[i]);
          // Each further piece goes once the one before it was answered.
          if (i < row.send.length - 1) await c.responses(Math.min(i + 1, want), 5000, row.heads);
        }
        if (row.closes) await c.waitClosed();
        else await c.responses(want, 5000, row.heads);
        const took = Date.now() - lastSent;
        if (row.withinMs !== undefined) assert.ok(took < row.withinMs, `answered after ${took} ms`);
        if (row.rule.includes('flow both ways')) await waitFor('the tunnelled bytes', () => [...backend.tunnelled.values()].join('') === 'earlylate');
        row.check({ responses: parseResponses(c.text, c.closed, row.heads), text: c.text, closed: c.closed, got: [...backend.requests], tunnelled: backend.tunnelled });
      } finally {
        c.destroy();
        if (row.drained) await admin('POST', '/backends/raw/ready');
      }
    });
  }

  it('the rows cover request framing, targets, Connection, upgrades and response framing', () => {
    assert.ok(ROWS.length >= 40, `${ROWS.length} rows`);
  });
});
