import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { randomBytes } from 'node:crypto';
import { certPaths } from '../../src/certs/cluster-certs.ts';
import { collect, frame, rawTls } from '../harness/raw.ts';
import { loadHostTable } from '../../src/config/host-table.ts';
import { makeOperatorKey, OPERATOR_PRIVATE_KEY, signatureFile, signTable } from '../../src/config/signed-table.ts';
import type { HostsStatus } from '../../src/config/table-change.ts';
import { placement } from '../../src/sessions/placement.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { FrontProcess } from '../harness/front-process.ts';
import { freePorts } from '../harness/ports.ts';
import { timed, waitFor } from '../harness/wait.ts';
import { sqlRows } from '../harness/home-pair.ts';

// Issue 28: a host table that changes while the cluster runs. Version 1 has A, B and C; D's
// entry (ports picked with the others) is added as version 2 with `cohort hosts add` while
// they run, handed to A only; B and C take it from A, and D is started on it. No node restarts.
// A front (backends: access, following A) sends requests to B and C, then to D too.
describe('signed host table versions across real node processes', () => {
  let cluster: TestCluster;
  let front: FrontProcess;
  let frontUrl: string;
  let key: string;
  const running = ['A', 'B', 'C'];
  const current = async (id: string) => (await (await cluster.client(id)).call(id, 'hosts.current')) as HostsStatus;
  const offer = async (id: string, text: string, signature: string) => (await cluster.client(id)).call(id, 'hosts.offer', { text, signature });
  const held = (id: string) => readFileSync(join(cluster.table.dataDir, id, 'host-table.json'), 'utf8');
  /** Session copies node `id` still owes others (its metric). */
  const owed = async (id: string) => Number(/^cohort_session_copies_owed\{[^}]*\} (\S+)$/m.exec(await (await fetch(`http://127.0.0.1:${cluster.table.nodes.find((n) => n.id === id)!.httpPort}/metrics`)).text())?.[1] ?? NaN);
  /** Requests through the front until stopped, counted by answer: each must come from a node (a node's HTTP port answers this path 404; the front's own failures are 502/503). */
  const loadThroughFront = () => {
    let on = true;
    const statuses = new Map<number | string, number>();
    const loop = (async () => {
      while (on) {
        const r = await fetch(`${frontUrl}/nothing-here`).then((res) => (void res.arrayBuffer(), res.status), (err: Error) => err.message);
        statuses.set(r, (statuses.get(r) ?? 0) + 1);
      }
    })();
    return { statuses, stop: () => ((on = false), loop) };
  };

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }, { id: 'C' }, { id: 'D' }], { link: { heartbeatMs: 1000, deadAfterMs: 4000, backoffMaxMs: 500 } });
    key = makeOperatorKey(cluster.table.tlsDir).privateKey;
    // Version 1: the file without D.
    const doc = parseDocument(readFileSync(cluster.config, 'utf8'));
    doc.set('version', 1);
    doc.deleteIn(['nodes', 3]);
    const [listen, admin] = await freePorts(2);
    doc.set('front', doc.createNode({ listen: { port: listen }, admin: { port: admin }, backends: 'access', node: 'A', health: { intervalMs: 200 } }));
    frontUrl = `http://127.0.0.1:${listen}`;
    writeFileSync(cluster.config, doc.toString());
    writeFileSync(signatureFile(cluster.config), signTable(doc.toString(), key).signature);
    await Promise.all(running.map((id) => cluster.start(id)));
    await waitFor('links among A, B and C', () => cluster.linksUp(running), 10_000);
    front = FrontProcess.start(cluster.config, { port: admin });
    await front.waitFor('B and C (the access nodes) ready at the front', (st) => st.backends.filter((b) => b.state === 'ready').length === 2);
  });
  after(async () => {
    await front?.stop();
    await cluster.destroy();
  });

  it('every node holds version 1, signed', async () => {
    for (const id of running) assert.deepEqual({ ...(await current(id)), hash: null }, { version: 1, hash: null, running: 1, pendingRestart: [], signed: true });
  });

  it('`cohort hosts add D --from A` under load: B and C take version 2 from A at once, D starts on it, every link is up, the front sends D requests with none failed; a critical message reaches D', async () => {
    const d = cluster.table.nodes.find((n) => n.id === 'D')!;
    // Sessions written before D joins; those the new table places on D must be on D afterwards.
    const ids = Array.from({ length: 200 }, () => randomBytes(16).toString('hex'));
    const b = await cluster.client('B');
    for (const id of ids) await b.call('B', 'sessions.write', { id, set: { who: id.slice(0, 8) } });
    const { statuses, stop } = loadThroughFront();
    const { ms } = await timed(async () => {
      const added = await runCli(['hosts', 'add', 'D', '--domain', 'msu', '--host', '127.0.0.1', '--link-port', String(d.linkPort), '--http-port', String(d.httpPort), '--from', 'A', '-c', cluster.config]);
      assert.equal(added.code, 0, added.stderr);
      assert.match(added.stdout, /added D: version 2/);
      await waitFor('A, B and C on version 2', async () => (await Promise.all(running.map(current))).every((s) => s.version === 2 && s.running === 2), 10_000);
    });
    assert.ok(ms < 2 * 1000 + 5000, `version 2 everywhere ${ms} ms after the push`);
    await cluster.start('D');
    await waitFor('every link up, D included', () => cluster.linksUp(), 15_000);
    assert.equal((await current('D')).version, 2);
    const served = await front.waitFor('the front sending D requests', (st) => (st.backends.find((x) => x.id === 'D')?.requests ?? 0) > 20, 15_000);
    await stop();
    assert.deepEqual([...statuses.keys()], [404], `answers through the front while D joined: ${JSON.stringify([...statuses])}`);
    console.log(`D joined: ${statuses.get(404)} requests through the front, none failed; D served ${served.backends.find((x) => x.id === 'D')!.requests}; version 2 everywhere ${Math.round(ms)} ms after the push`);
    // Every session the new table places on D is there once B and C owe nothing: read at D with B and C down.
    await waitFor('B and C owe no session copies', async () => (await owed('B')) === 0 && (await owed('C')) === 0, 15_000);
    const v2 = loadHostTable(cluster.config);
    const onD = ids.filter((id) => placement(v2, id).includes('D'));
    assert.ok(onD.length > 20, `${onD.length} of 200 sessions placed on D`);
    await cluster.kill('B');
    await cluster.kill('C');
    try {
      const dc = await cluster.client('D');
      for (const id of onD) assert.deepEqual(((await dc.call('D', 'sessions.get', { id })) as { data: unknown } | null)?.data, { who: id.slice(0, 8) }, id);
    } finally {
      await cluster.start('B');
      await cluster.start('C');
    }
    const sent = await (await cluster.client('B')).critical('D', 'journal.append', { stream: 'joined', entry: 'hello D' });
    assert.equal(sent.status, 'ok');
    assert.deepEqual((await cluster.journal('D', 'joined')).map((e) => e.entry), ['hello D']);
    const peers = await cluster.peers('A');
    assert.deepEqual(peers.map((p) => [p.id, p.tableVersion]).sort(), [['B', 2], ['C', 2], ['D', 2]]);
    const shown = await runCli(['hosts', 'show', '-f', 'C', '-c', cluster.config]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /C holds host table version 2/);
  });

  it('older, unsigned, altered and same-version-other-text tables are refused, and change nothing', async () => {
    const v2 = readFileSync(cluster.config, 'utf8');
    const v2sig = readFileSync(signatureFile(cluster.config), 'utf8').trim();
    const before = { status: await current('B'), file: held('B') };
    const doc = parseDocument(v2);
    doc.set('version', 1);
    const older = signTable(doc.toString(), key);
    const other = parseDocument(v2);
    other.set('link', { heartbeatMs: 1000, deadAfterMs: 5000 });
    const sameVersion = signTable(other.toString(), key);
    const moved = parseDocument(v2);
    moved.set('version', 3);
    moved.set('dataDir', './elsewhere');
    const movesData = signTable(moved.toString(), key);
    const cases: [string, string, string, RegExp][] = [
      ['older', older.text, older.signature, /older than version 2/],
      ['moving dataDir', movesData.text, movesData.signature, /may not move dataDir/],
      ['unsigned', v2.replace('version: 2', 'version: 3'), Buffer.alloc(64).toString('base64'), /does not match the operator's key/],
      ['altered', v2.replace('127.0.0.1', '127.0.0.2'), v2sig, /does not match/],
      ['no signature at all', v2, '', /not 64 bytes/],
      ['same version, other text', sameVersion.text, sameVersion.signature, /another text/],
    ];
    for (const [what, text, signature, why] of cases) {
      await assert.rejects(offer('B', text, signature), (err: Error) => why.test(err.message), what);
    }
    assert.deepEqual(await current('B'), before.status);
    assert.equal(held('B'), before.file);
  });

  it('SIGHUP: a node reads its file again and takes a newer signed version (it keeps running); the others follow', async () => {
    const signed = await runCli(['hosts', 'sign', '--bump', '-c', cluster.config]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stdout, /signed version 3/);
    cluster.signal('C', 'SIGHUP');
    await waitFor('every node on version 3', async () => (await Promise.all(cluster.ids.map(current))).every((s) => s.version === 3), 10_000);
    assert.ok(cluster.running('C'));
    await waitFor('C logging the reload', () => cluster.events('C', 'host_table_reload').length === 1, 5000);
  });

  it('a node restarted with an older file starts on the newer version it accepted', async () => {
    const v3 = readFileSync(cluster.config, 'utf8');
    const v3sig = readFileSync(signatureFile(cluster.config), 'utf8');
    await cluster.kill('B', 'SIGTERM');
    const doc = parseDocument(v3);
    doc.set('version', 1);
    doc.deleteIn(['nodes', 3]);
    writeFileSync(cluster.config, doc.toString());
    writeFileSync(signatureFile(cluster.config), signTable(doc.toString(), join(cluster.table.tlsDir, OPERATOR_PRIVATE_KEY)).signature);
    try {
      await cluster.start('B');
      assert.deepEqual(await current('B'), { ...(await current('B')), version: 3, running: 3 });
      assert.match(cluster.log('B'), /holds version 1; running on version 3, accepted earlier/);
      await waitFor('every link up, D included', () => cluster.linksUp(), 15_000);
    } finally {
      writeFileSync(cluster.config, v3);
      writeFileSync(signatureFile(cluster.config), v3sig);
    }
  });
  it('`cohort hosts leave D`, then `remove D`, under load: the front drains D, sessions on D move off it, then its links close everywhere, messages queued for it are set aside, its certificate is refused and nothing dials it', async () => {
    const v3 = loadHostTable(cluster.config);
    const ids = Array.from({ length: 200 }, () => randomBytes(16).toString('hex'));
    const c = await cluster.client('C');
    for (const id of ids) await c.call('C', 'sessions.write', { id, set: { who: id.slice(0, 8) } });
    // Those on D and B only: once D has left, C must hold them (read there with D and B down).
    const onDB = ids.filter((id) => placement(v3, id).includes('D') && placement(v3, id).includes('B'));
    assert.ok(onDB.length > 20, `${onDB.length} of 200 sessions placed on D and B`);
    const { statuses, stop } = loadThroughFront();
    const left = await runCli(['hosts', 'leave', 'D', '--from', 'A', '-c', cluster.config]);
    assert.equal(left.code, 0, left.stderr);
    await waitFor('every node on version 4', async () => (await Promise.all(cluster.ids.map(current))).every((st) => st.version === 4 && st.running === 4), 10_000);
    await front.waitFor('the front draining D', (st) => st.backends.find((b) => b.id === 'D')?.admin === 'draining', 10_000);
    const drained = (await front.status()).backends.find((b) => b.id === 'D')!.requests;
    const busyBefore = statuses.get(404) ?? 0;
    await waitFor('50 more requests through the front', async () => (statuses.get(404) ?? 0) > busyBefore + 50, 10_000);
    assert.equal((await front.status()).backends.find((b) => b.id === 'D')!.requests, drained, 'no new request went to D once it was draining');
    await stop();
    assert.deepEqual([...statuses.keys()], [404], `answers through the front while D left: ${JSON.stringify([...statuses])}`);
    // Its sessions moved: read with D gone, once nobody owes a copy.
    await waitFor('B, C and D owe no session copies', async () => (await owed('B')) === 0 && (await owed('C')) === 0 && (await owed('D')) === 0, 15_000);
    // cohort doctor on D says it may go now (its outbox empty, no copy owed by it).
    const doctor = await runCli(['doctor', '--no-repair', '--json', '-f', 'D', '-c', cluster.config]);
    const leavingRows = (JSON.parse(doctor.stdout) as { rows: { check: string; status: string; detail: string }[] }).rows.filter((r) => r.check === 'leaving' || r.check === 'session copies');
    assert.deepEqual(leavingRows.map((r) => [r.check, r.status]), [['leaving', 'ok']], JSON.stringify(leavingRows));
    await cluster.kill('D');
    await cluster.kill('B');
    try {
      for (const id of onDB) assert.deepEqual(((await c.call('C', 'sessions.get', { id })) as { data: unknown } | null)?.data, { who: id.slice(0, 8) }, id);
    } finally {
      await cluster.start('B');
    }
    // A message for D while it is down waits in B's outbox; the removal sets it aside.
    assert.equal((await (await cluster.client('B')).critical('D', 'journal.append', { stream: 'late', entry: 1 })).status, 'delayed');
    const removed = await runCli(['hosts', 'remove', 'D', '--from', 'A', '-c', cluster.config]);
    assert.equal(removed.code, 0, removed.stderr);
    const live = ['A', 'B', 'C'];
    await waitFor('A, B and C on version 5', async () => (await Promise.all(live.map(current))).every((st) => st.version === 5 && st.running === 5), 10_000);
    const removedAt = Date.now(); // A had closed D's link and stopped dialing it before it said so
    for (const id of live) assert.deepEqual((await cluster.peers(id)).map((p) => p.id).sort(), live.filter((x) => x !== id), `${id}'s peers`);
    const b = await cluster.client('B');
    assert.deepEqual(((await b.call('B', 'outbox.status', {})) as { peers: { peer: string }[] }).peers.filter((p) => p.peer === 'D'), []);
    const dead = ((await b.call('B', 'outbox.dead', {})) as { dead: { peer: string; code: string; cmd: string }[] }).dead.filter((d) => d.peer === 'D');
    assert.deepEqual(dead.map((d) => [d.code, d.cmd]), [['no_such_host', 'journal.append']]);
    await front.waitFor('the front without D', (st) => !st.backends.some((x) => x.id === 'D'), 10_000);
    // D's certificate still passes the CA check, but D is no node of the table: its hello is refused.
    const p = certPaths(cluster.table.tlsDir, 'D');
    const socket = await rawTls(cluster.table.nodes[0].linkPort, { ca: readFileSync(p.ca), cert: readFileSync(p.cert), key: readFileSync(p.key) });
    socket.write(frame(JSON.stringify({ t: 'hello', v: 1, cluster: 'test', node: 'D' })));
    const outcome = await collect(socket);
    assert.equal(outcome.frames[0]?.t, 'refuse');
    assert.match(String(outcome.frames[0]?.message), /not a peer in the host table/);
    // Nor can it start again on this table, and its id is never taken again.
    const again = await runCli(['node', '-i', 'D', '-c', cluster.config]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no node 'D'/);
    const reuse = await runCli(['hosts', 'add', 'D', '--domain', 'msu', '--host', '127.0.0.1', '--link-port', '1', '--http-port', '2', '-c', cluster.config]);
    assert.equal(reuse.code, 2);
    assert.match(reuse.stderr, /'D' was removed/);
    const dials = () => cluster.events('A', 'dial_failed').filter((e) => e.peer === 'D').map((e) => Date.parse(String(e.time)));
    assert.ok(dials().some((t) => t < removedAt), 'A dialed D while it was down and still in the table');
    await new Promise((r) => setTimeout(r, 1500)); // three times the back-off's cap (500 ms): a dial that was due has happened
    assert.deepEqual(dials().filter((t) => t > removedAt), [], 'A dials D no more');
  });

  it('a node that was down while a version spread takes it from a peer ahead of it when it is back (their hellos say so, or bring it)', async () => {
    const before = readFileSync(cluster.config, 'utf8');
    const beforeSig = readFileSync(signatureFile(cluster.config), 'utf8');
    const was = (await current('A')).version;
    await cluster.kill('A', 'SIGTERM');
    const signed = await runCli(['hosts', 'sign', '--bump', '-c', cluster.config]);
    assert.equal(signed.code, 0, signed.stderr);
    const pushed = await runCli(['hosts', 'push', '-f', 'B', '-c', cluster.config]);
    assert.equal(pushed.code, 0, pushed.stderr);
    await waitFor('B and C on the new version', async () => (await Promise.all(['B', 'C'].map(current))).every((st) => st.version === was + 1), 10_000);
    // A starts on its own older file and stored version; its peers' hellos say a newer one.
    const newer = readFileSync(cluster.config, 'utf8');
    const newerSig = readFileSync(signatureFile(cluster.config), 'utf8');
    writeFileSync(cluster.config, before);
    writeFileSync(signatureFile(cluster.config), beforeSig);
    try {
      await cluster.start('A');
      await waitFor('A fetching the new version', async () => (await current('A')).version === was + 1, 10_000);
      // Its log says from whom (written a moment after the answer, on a busy machine).
      await waitFor('A logging the version taken from a peer', () => cluster.events('A', 'host_table_applied').some((e) => e.version === was + 1 && ['B', 'C', 'the hello of B', 'the hello of C'].includes(String(e.from))), 5000);
    } finally {
      writeFileSync(cluster.config, newer);
      writeFileSync(signatureFile(cluster.config), newerSig);
    }
  });

  it('a library node joins while every node runs: the version applies at once, L takes a new user and A keeps her copy; the version that makes L a full member waits for a restart (hosts.current, cohort doctor and the dashboard say so); a restarted node runs on it', async () => {
    const fileBefore = readFileSync(cluster.config, 'utf8');
    const sigBefore = readFileSync(signatureFile(cluster.config), 'utf8');
    const [linkPort, httpPort] = await freePorts(2);
    try {
      const added = await runCli(['hosts', 'add', 'L', '--role', 'library', '--domain', 'msu', '--host', '127.0.0.1', '--link-port', String(linkPort), '--http-port', String(httpPort), '--from', 'B', '-c', cluster.config]);
      assert.equal(added.code, 0, added.stderr);
      assert.equal(loadHostTable(cluster.config).nodes.find((n) => n.id === 'L')?.joining, true, 'added joining');
      await waitFor('every node running version 7', async () => (await Promise.all(['A', 'B', 'C'].map(current))).every((st) => st.version === 7 && st.running === 7 && st.pendingRestart.length === 0), 10_000);
      await cluster.start('L');
      await waitFor('A linked to L', async () => (await cluster.peers('A')).some((p) => p.id === 'L' && p.state === 'up'), 10_000);
      // L takes a new user (no node restarted), and A, its backup (the domain's other library node), keeps her copy.
      const b = await cluster.client('B');
      assert.deepEqual(await b.auth.addUser({ domain: 'msu', user: 'lee' }, 'L', 'lee password'), { created: true, home: 'L' });
      assert.equal((await b.records.put({ domain: 'msu', user: 'lee' }, 'w', { first: 1 })).status, 'ok');
      await waitFor("lee on A's copy of L", () => sqlRows(join(cluster.table.dataDir, 'A', 'replicas', 'L.db'), "SELECT count(*) AS n FROM records WHERE user = 'lee'")[0].n === 1, 10_000);
      assert.deepEqual(await b.auth.login({ domain: 'msu', user: 'lee' }, 'lee password'), { ok: true, home: 'L' });
      // A full member (not joining): its backups and voters change, so that waits for each node's restart.
      const doc = parseDocument(readFileSync(cluster.config, 'utf8'));
      const i = loadHostTable(cluster.config).nodes.findIndex((n) => n.id === 'L');
      doc.deleteIn(['nodes', i, 'joining']);
      writeFileSync(cluster.config, doc.toString());
      for (const args of [['hosts', 'sign', '--bump'], ['hosts', 'push', '-f', 'B']]) {
        const out = await runCli([...args, '-c', cluster.config]);
        assert.equal(out.code, 0, out.stderr);
      }
      await waitFor('every node holding version 8', async () => (await Promise.all(['A', 'B', 'C'].map(current))).every((st) => st.version === 8), 10_000);
      assert.deepEqual(await current('A'), { ...(await current('A')), version: 8, running: 7, pendingRestart: ["L's entry changed"] });
      const doctor = await runCli(['doctor', '--no-repair', '--json', '-f', 'A', '-c', cluster.config]);
      const rows = (JSON.parse(doctor.stdout) as { rows: { check: string; status: string; detail: string }[] }).rows.filter((r) => r.check === 'host table');
      assert.deepEqual(rows.map((r) => r.status), ['warn'], JSON.stringify(rows));
      assert.match(rows[0].detail, /holds version 8, runs on 7: restart it for L's entry changed/);
      const snapshot = (await (await cluster.client('A')).call('A', 'status.snapshot', {})) as { hostTable: unknown };
      assert.deepEqual(snapshot.hostTable, { version: 8, running: 7, pendingRestart: ["L's entry changed"] });
      // What a later version changes that applies at once does so although L's entry still waits: M, an access node, is dialed.
      const [mLink, mHttp] = await freePorts(2);
      const addM = await runCli(['hosts', 'add', 'M', '--domain', 'msu', '--host', '127.0.0.1', '--link-port', String(mLink), '--http-port', String(mHttp), '--from', 'B', '-c', cluster.config]);
      assert.equal(addM.code, 0, addM.stderr);
      await waitFor('A dialing M while L waits', async () => (await cluster.peers('A')).some((p) => p.id === 'M'), 10_000);
      assert.deepEqual(await current('A'), { ...(await current('A')), version: 9, running: 7, pendingRestart: ["L's entry changed"] });
      await cluster.kill('C', 'SIGTERM');
      await cluster.start('C');
      assert.deepEqual(await current('C'), { ...(await current('C')), version: 9, running: 9, pendingRestart: [] });
    } finally {
      await cluster.kill('L');
      writeFileSync(cluster.config, fileBefore);
      writeFileSync(signatureFile(cluster.config), sigBefore);
    }
  });

  it('a new node started on a version no running node holds brings it: its hellos hand it over, every node takes it and links to it', async () => {
    const fileBefore = readFileSync(cluster.config, 'utf8');
    const sigBefore = readFileSync(signatureFile(cluster.config), 'utf8');
    const held = (await (await cluster.client('A')).call('A', 'hosts.fetch', {})) as { text: string; signature: string };
    const was = (await current('A')).version;
    writeFileSync(cluster.config, held.text);
    writeFileSync(signatureFile(cluster.config), held.signature);
    const [nLink, nHttp] = await freePorts(2);
    try {
      // Added and signed, handed to no one (no --from): only N's file has it.
      const added = await runCli(['hosts', 'add', 'N', '--domain', 'msu', '--host', '127.0.0.1', '--link-port', String(nLink), '--http-port', String(nHttp), '-c', cluster.config]);
      assert.equal(added.code, 0, added.stderr);
      assert.equal((await current('B')).version, was);
      await cluster.start('N');
      await waitFor('every running node on the version N brought', async () => (await Promise.all(['A', 'B', 'C'].map(current))).every((st) => st.version === was + 1), 10_000);
      await waitFor('N linked both ways with A, B and C', async () => {
        const fromN = (await cluster.peers('N')).filter((p) => ['A', 'B', 'C'].includes(p.id) && p.state === 'up').length;
        const toN = await Promise.all(['A', 'B', 'C'].map(async (id) => (await cluster.peers(id)).some((p) => p.id === 'N' && p.state === 'up')));
        return fromN === 3 && toN.every(Boolean);
      }, 10_000);
      // The first node to hold it can only have taken it from N's hello (applied, or kept with what waits for a restart on A and B); logged a moment after.
      const fromHello = (id: string) => ['host_table_applied', 'host_table_pending_restart'].some((ev) => cluster.events(id, ev).some((e) => e.version === was + 1 && e.from === 'the hello of N'));
      await waitFor('a node logging the version taken from the table N brought', () => ['A', 'B', 'C'].some(fromHello), 5000);
    } finally {
      await cluster.kill('N');
      writeFileSync(cluster.config, fileBefore);
      writeFileSync(signatureFile(cluster.config), sigBefore);
    }
  });

  it('from an address the table lacks: a TLS handshake now and then, one at a time per address, and a hello that brings no table naming it is refused', async () => {
    const linkPortA = cluster.table.nodes.find((n) => n.id === 'A')!.linkPort;
    const creds = (() => {
      const p = certPaths(cluster.table.tlsDir, 'B');
      return { ca: readFileSync(p.ca), cert: readFileSync(p.cert), key: readFileSync(p.key) };
    })();
    // Let in once the strangers' budget allows (one a second at most).
    const socket = await waitFor('a stranger let through to TLS', () => rawTls(linkPortA, creds, '127.0.0.9').catch(() => undefined), 10_000, 200);
    // While it is open, another from the same address is closed before TLS.
    await assert.rejects(rawTls(linkPortA, creds, '127.0.0.9'));
    socket.write(frame(JSON.stringify({ t: 'hello', v: 1, cluster: cluster.table.cluster, node: 'B' })));
    const outcome = await collect(socket);
    assert.equal(outcome.frames[0]?.t, 'refuse');
    assert.match(String(outcome.frames[0]?.message), /127\.0\.0\.9 is not a node address in the host table/);
    assert.deepEqual(await (await cluster.client('B')).ping('A'), { node: 'A' }, 'A still serves B');
  });
});
