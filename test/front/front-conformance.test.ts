import assert from 'node:assert/strict';
import { connect as connectH2, type ClientHttp2Session } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, FrontCluster } from '../harness/front-cluster.ts';
import { RawBackend } from '../harness/raw-backend.ts';
import { parseResponses, RawHttp, type RawTls } from '../harness/raw-http.ts';
import { issueTestCert, makeTestCa } from '../harness/test-certs.ts';
import { waitFor } from '../harness/wait.ts';
import { asText, h2Requests, sendH2 } from '../harness/h2-replay.ts';
import { ROWS, type Row } from './conformance-table.ts';

// The HTTP/1.1 conformance suite of the front: the table is in conformance-table.ts, one row
// per rule with the RFC section it checks; the note of each test names its section.
/** A front before the raw back-end, over HTTPS (certificate for front.example) when `overTls`: the test CA's file then. */
async function rawFront(overTls: boolean): Promise<{ fc: FrontCluster; backend: RawBackend; ca: string | undefined }> {
  const backend = await RawBackend.start();
  const fc = await FrontCluster.create([], {
    backends: [{ id: 'raw', host: '127.0.0.1', port: backend.port }],
    // Small enough that a body of a few hundred bytes streams (the 101-before-the-body row).
    limits: { replayBodyBytes: 64 },
    // Bad answers are the point here: they must not eject the only back-end.
    health: { path: '/healthz', intervalMs: 200, timeoutMs: 500, rise: 1, fall: 1, slowStartMs: 0, errorsToEject: 1_000_000 },
  });
  let ca: string | undefined;
  if (overTls) {
    ca = makeTestCa(fc.dir);
    const cert = issueTestCert(fc.dir, 'front', ['front.example'], 'ec');
    fc.writeConfig({ ...fc.frontConfig, listen: { host: '127.0.0.1', port: fc.port, tls: { certificates: [{ cert: cert.cert, key: cert.key }] } } });
  }
  await fc.startFront();
  await waitFor('the raw back-end ready', () => fc.allReady());
  return { fc, backend, ca };
}

/** Drains or readies the raw back-end through the front's admin listener. */
async function admin(fc: FrontCluster, method: string, path: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${fc.adminPort}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(res.status, 200, await res.text());
}

// The table runs three times: over plain HTTP, over the front's HTTPS listener (the same rules
// hold), and over HTTP/2, each row's requests sent as streams (harness/h2-replay.ts) where
// HTTP/2 can say them, checked as over HTTP/1.1 or by the row's own `h2` check.
for (const overTls of [false, true]) describe(`the front conforms to HTTP/1.1 (RFC 9110, 9112, 6455), row by row${overTls ? ', over TLS' : ''}`, () => {
  let fc: FrontCluster;
  let backend: RawBackend;
  let tls: RawTls | undefined;

  before(async () => {
    let ca: string | undefined;
    ({ fc, backend, ca } = await rawFront(overTls));
    if (ca) tls = { ca, servername: 'front.example' };
  });
  after(async () => {
    await fc.destroy();
    await backend.close();
  });

  for (const row of ROWS) {
    it(`${row.section}: ${row.rule}`, async () => {
      backend.reset(row.backend, row.early);
      if (row.drained) await admin(fc, 'POST', '/backends/raw/drain');
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
        if (row.drained) await admin(fc, 'POST', '/backends/raw/ready');
      }
    });
  }

  it('the rows cover request framing, targets, Connection, upgrades and response framing', () => {
    assert.ok(ROWS.length >= 40, `${ROWS.length} rows`);
  });
});

describe('the conformance table over HTTP/2 (RFC 9113): each row whose requests HTTP/2 can carry', () => {
  let fc: FrontCluster;
  let backend: RawBackend;
  let ca: string;
  let session: ClientHttp2Session | undefined;

  before(async () => {
    let file: string | undefined;
    ({ fc, backend, ca: file } = await rawFront(true));
    ca = file!;
  });
  after(async () => {
    session?.destroy();
    await fc.destroy();
    await backend.close();
  });

  /** One session for the whole table, as a browser keeps one (a row that broke it gets a new one). */
  const h2 = (): ClientHttp2Session => {
    if (!session || session.closed || session.destroyed) {
      session = connectH2(`https://127.0.0.1:${fc.port}`, { ca, servername: 'front.example' });
      session.on('error', () => {});
    }
    return session;
  };
  const applies = (row: Row): string | undefined => {
    if (typeof row.h2 === 'string') return row.h2;
    const parsed = row.send.map(h2Requests);
    const why = parsed.find((p) => typeof p === 'string');
    return why === undefined ? undefined : `HTTP/1.1 only: ${why}`;
  };

  for (const row of ROWS) {
    const skip = applies(row);
    it(`${row.section}: ${row.rule}`, { skip }, async () => {
      backend.reset(row.backend, row.early);
      if (row.drained) await admin(fc, 'POST', '/backends/raw/drain');
      try {
        const responses = [];
        for (const piece of row.send) for (const request of h2Requests(piece) as Exclude<ReturnType<typeof h2Requests>, string>) responses.push(await sendH2(h2(), request));
        const outcome = { responses, text: asText(responses), closed: false, got: [...backend.requests], tunnelled: backend.tunnelled };
        (typeof row.h2 === 'function' ? row.h2 : row.check)(outcome);
      } finally {
        if (row.drained) await admin(fc, 'POST', '/backends/raw/ready');
      }
    });
  }
});
