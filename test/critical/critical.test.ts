import assert from 'node:assert/strict';
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certPaths } from '../../src/certs/cluster-certs.ts';
import type { CriticalResult } from '../../src/client/client.ts';
import type { OutboxPeerStatus } from '../../src/critical/critical-service.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { collect, frame, rawTls } from '../harness/raw.ts';
import { timed, waitFor } from '../harness/wait.ts';

const DOWN_MS = Number(process.env.CRITICAL_DOWN_MS ?? 3000);

describe('critical messages across real node processes', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A' }, { id: 'B', proxied: true }, { id: 'C' }, { id: 'X' }], {
      link: { heartbeatMs: 300, deadAfterMs: 1000, backoffMinMs: 100, backoffMaxMs: 1000 },
      critical: { waitMs: 500, retries: 2, retryDelayMs: 100 },
    });
    await Promise.all(['A', 'B', 'C'].map((id) => cluster.start(id)));
    await waitFor('links up', () => cluster.linksUp(['A', 'B', 'C']));
  });
  after(() => cluster.destroy());
  const journal = (node: string, stream: string) => cluster.journal(node, stream);

  async function outbox(node: string): Promise<{ peers: OutboxPeerStatus[]; dead: number }> {
    return (await (await cluster.client(node)).call(node, 'outbox.status')) as { peers: OutboxPeerStatus[]; dead: number };
  }
  const drained = async (node: string) => (await outbox(node)).peers.every((p) => p.depth === 0);
  const append = async (from: string, to: string, stream: string, entry: unknown) =>
    (await cluster.client(from)).critical(to, 'journal.append', { stream, entry });

  it('ok with the reply when the peer is up; applied once', async () => {
    const result = await append('A', 'B', 'up', { n: 1 });
    assert.equal(result.status, 'ok');
    assert.deepEqual((result as { reply: unknown }).reply, { stream: 'up', seq: 1 });
    assert.deepEqual((await journal('B', 'up')).map((e) => [e.from, e.entry]), [['A', { n: 1 }]]);
  });

  it('delayed when the peer is down, on disk at once, delivered when it is back', async () => {
    await cluster.kill('B');
    const { value, ms } = await timed(() => append('A', 'B', 'later', { n: 1 }));
    assert.equal(value.status, 'delayed');
    assert.ok(ms < 2000, `delayed after ${ms} ms`);
    const db = new DatabaseSync(join(cluster.table.dataDir, 'A', 'node.db'), { readOnly: true });
    const rows = db.prepare("SELECT peer, cmd FROM outbox WHERE peer = 'B'").all();
    db.close();
    assert.deepEqual(rows.map((r) => ({ ...r })), [{ peer: 'B', cmd: 'journal.append' }], 'the message is in the outbox before delayed is returned');
    await cluster.start('B');
    await waitFor('delivery', async () => (await journal('B', 'later')).length === 1);
    await waitFor('A drained', () => drained('A'));
  });

  it('a sender killed right after delayed delivers after its restart', async () => {
    await cluster.kill('C');
    assert.equal((await append('A', 'C', 'crash', { n: 1 })).status, 'delayed');
    assert.equal((await append('A', 'C', 'crash', { n: 2 })).status, 'delayed');
    await cluster.kill('A');
    await cluster.start('C');
    await cluster.start('A');
    await waitFor('delivery after the sender restarts', async () => (await journal('C', 'crash')).length === 2);
    assert.deepEqual((await journal('C', 'crash')).map((e) => e.entry), [{ n: 1 }, { n: 2 }]);
  });

  it(`a receiver down for ${DOWN_MS} ms gets everything, in order per sender, with newer messages behind the old`, async () => {
    await cluster.kill('B');
    const sendAll = async (from: string, count: number) => {
      const results: CriticalResult[] = [];
      for (let n = 1; n <= count; n++) results.push(await append(from, 'B', `down-${from}`, { n }));
      return results;
    };
    const first = await Promise.all([sendAll('A', 100), sendAll('C', 100)]);
    assert.ok(first.flat().every((r) => r.status === 'delayed'));
    await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - 1000))); // the outage itself is the point here
    const backoff = (await cluster.peers('A')).find((p) => p.id === 'B')!;
    assert.equal(backoff.state, 'down');
    await cluster.start('B');
    // New messages right after the return must queue behind the old ones.
    const newer = await Promise.all([append('A', 'B', 'down-A', { n: 101 }), append('C', 'B', 'down-C', { n: 101 })]);
    assert.ok(newer.every((r) => r.status === 'ok' || r.status === 'delayed'));
    for (const from of ['A', 'C']) {
      await waitFor(`all of ${from}'s messages`, async () => (await journal('B', `down-${from}`)).length === 101);
      assert.deepEqual((await journal('B', `down-${from}`)).map((e) => (e.entry as { n: number }).n), Array.from({ length: 101 }, (_, i) => i + 1));
    }
  });

  it('a link cut and stalled in the middle of a stream: no loss, no second application', async () => {
    const proxy = cluster.proxy('B');
    const client = await cluster.client('A');
    const N = 3000;
    const sending = Promise.all(Array.from({ length: N }, (_, i) => client.critical('B', 'journal.append', { stream: 'cut', entry: { n: i + 1 } })));
    await waitFor('the stream under way', async () => (await journal('B', 'cut')).length > 200, 10_000, 5);
    proxy.cut();
    await waitFor('more of the stream', async () => (await journal('B', 'cut')).length > 1200, 10_000, 5);
    proxy.stall();
    await new Promise((r) => setTimeout(r, 1500)); // a stall is silence: the heartbeat must notice it
    proxy.resume();
    proxy.cut();
    const results = await sending;
    assert.ok(results.every((r) => r.status === 'ok' || r.status === 'delayed'));
    assert.ok(proxy.cuts >= 2);
    await waitFor('every message applied', async () => (await journal('B', 'cut')).length >= N, 15_000);
    await waitFor('A drained', () => drained('A'));
    const ns = (await journal('B', 'cut')).map((e) => (e.entry as { n: number }).n);
    assert.equal(ns.length, N, 'no duplicates');
    assert.equal(new Set(ns).size, N, 'every message once');
  });

  it('an unknown command goes to dead letters with its reason; retry re-queues it', async () => {
    const client = await cluster.client('A');
    await assert.rejects(client.critical('B', 'no.such.command', { x: 1 }), { code: 'unknown_cmd' });
    await assert.rejects(client.critical('B', 'journal.append', { stream: '../bad' }), { code: 'bad_args' });
    await assert.rejects(client.critical('B', 'ping'), { code: 'refused', message: /cannot be sent as a critical message/ });
    const { dead } = (await client.call('A', 'outbox.dead')) as { dead: { seq: number; cmd: string; code: string; reason: string }[] };
    assert.deepEqual(dead.map((d) => [d.cmd, d.code]), [['no.such.command', 'unknown_cmd'], ['journal.append', 'bad_args'], ['ping', 'refused']]);
    assert.match(dead[0].reason, /no command 'no.such.command'/);
    await waitFor('the dead letter in the log', () => /"event":"critical_dead_letter"/.test(cluster.log('A'))); // a node writes its log asynchronously: the line may come after the reply
    const retried = (await client.call('A', 'outbox.retry', { id: dead[0].seq })) as { requeued: string };
    assert.match(retried.requeued, /\.\d+$/);
    await waitFor('rejected again and buried again', async () => {
      const again = ((await client.call('A', 'outbox.dead')) as { dead: { cmd: string }[] }).dead;
      return again.length === 3 && again.at(-1)!.cmd === 'no.such.command';
    });
    await assert.rejects(client.call('A', 'outbox.retry', { id: 999_999 }), { code: 'bad_args' });
  });

  it('the CLI: call --critical prints ok or delayed; outbox shows depth and dead letters; retry re-queues', async () => {
    const cfg = ['--config', cluster.config, '--from', 'A'];
    const ok = await runCli(['call', 'B', 'journal.append', '{"stream":"cli","entry":1}', '--critical', ...cfg]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^ok \{"stream":"cli","seq":1\}\n$/);
    await cluster.kill('B');
    const delayed = await runCli(['call', 'B', 'journal.append', '{"stream":"cli","entry":2}', '--critical', ...cfg]);
    assert.equal(delayed.code, 0, delayed.stderr);
    assert.match(delayed.stdout, /^delayed [0-9a-f]+\.\d+\n$/);
    const table = await runCli(['outbox', ...cfg]);
    assert.match(table.stdout, /^B\s+(down|connecting)\s+1\s+0\s+\d+\.\ds/m);
    const json = JSON.parse((await runCli(['outbox', '--json', ...cfg])).stdout) as { peers: OutboxPeerStatus[]; dead: number };
    assert.equal(json.peers.find((p) => p.peer === 'B')!.depth, 1);
    const dead = await runCli(['outbox', '--dead', ...cfg]);
    assert.match(dead.stdout, /no\.such\.command\s+unknown_cmd/);
    const id = /^(\d+)\s+B\s+ping/m.exec(dead.stdout)![1];
    const retry = await runCli(['outbox', 'retry', id, ...cfg]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, new RegExp(`dead letter ${id} queued again for B`));
    const missing = await runCli(['outbox', 'retry', '999999', ...cfg]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /bad_args: no dead letter 999999/);
    await cluster.start('B');
    await waitFor('the delayed one delivered', async () => (await journal('B', 'cli')).length === 2);
  });

  it('a replayed message id is answered with the first result and not applied again', async () => {
    const p = certPaths(cluster.table.tlsDir, 'X');
    const socket = await rawTls(cluster.table.nodes.find((n) => n.id === 'C')!.linkPort, {
      ca: readFileSync(p.ca), cert: readFileSync(p.cert), key: readFileSync(p.key),
    });
    const req = (id: number, n: number) => frame(JSON.stringify({ t: 'req', id, cmd: 'journal.append', mid: 'replay.1', args: { stream: 'replay', entry: { n } } }));
    socket.write(frame(JSON.stringify({ t: 'hello', v: 1, cluster: 'test', node: 'X' })));
    socket.write(req(1, 1));
    socket.write(req(2, 2)); // same id, other content: the first result stands
    setTimeout(() => socket.end(), 500);
    const outcome = await collect(socket);
    const replies = outcome.frames.filter((f) => f.t === 'res');
    assert.deepEqual(replies.map((r) => r.data), [{ stream: 'replay', seq: 1 }, { stream: 'replay', seq: 1 }]);
    assert.deepEqual((await journal('C', 'replay')).map((e) => e.entry), [{ n: 1 }]);
  });

  it('a truncated outbox tail (torn write-ahead log) is reported; the records before it are delivered', async () => {
    await cluster.kill('B');
    for (let n = 1; n <= 5; n++) assert.equal((await append('A', 'B', 'torn', { n })).status, 'delayed');
    await cluster.kill('A');
    const wal = join(cluster.table.dataDir, 'A', 'node.db-wal');
    const size = statSync(wal).size;
    truncateSync(wal, size - 100); // the last frame (the fifth message's commit) is cut short
    await cluster.start('A');
    await cluster.start('B');
    await waitFor('A drained', () => drained('A'));
    await waitFor('the records before the cut delivered', async () => (await journal('B', 'torn')).length === 4);
    assert.deepEqual((await journal('B', 'torn')).map((e) => e.entry), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    await waitFor('the torn tail in the log', () => /"event":"wal_torn_tail","bytes":\d+/.test(cluster.log('A'))); // a node writes its log asynchronously: the line may come after the reply
  });

  it('a damaged outbox row is detected by its checksum and reported; the rows before it are delivered', async () => {
    await cluster.kill('B');
    for (let n = 1; n <= 5; n++) assert.equal((await append('A', 'B', 'damaged', { n })).status, 'delayed');
    await cluster.kill('A');
    const db = new DatabaseSync(join(cluster.table.dataDir, 'A', 'node.db'));
    // Flip one bit in the last row's payload, as a failing disk would: '5' (0x35) becomes '4' (0x34).
    const last = db.prepare("SELECT seq, args FROM outbox WHERE peer = 'B' ORDER BY seq DESC LIMIT 1").get() as { seq: number; args: string };
    const flipped = Buffer.from(last.args);
    const at = flipped.lastIndexOf(0x35);
    flipped[at] ^= 0x01;
    db.prepare('UPDATE outbox SET args = ? WHERE seq = ?').run(flipped.toString(), last.seq);
    db.close();
    await cluster.start('A');
    await cluster.start('B');
    await waitFor('the good rows delivered', async () => (await journal('B', 'damaged')).length === 4);
    await waitFor('A drained', () => drained('A'));
    assert.deepEqual((await journal('B', 'damaged')).map((e) => e.entry), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    await waitFor('the damaged row in the log', () => new RegExp(`"event":"outbox_corrupt","seq":${last.seq},"peer":"B","why":"checksum mismatch"`).test(cluster.log('A'))); // a node writes its log asynchronously: the line may come after the reply
    const { dead } = (await (await cluster.client('A')).call('A', 'outbox.dead')) as { dead: { seq: number; reason: string }[] };
    assert.match(dead.find((d) => d.seq === last.seq)!.reason, /damaged on disk: checksum mismatch/);
  });
});
