import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { z } from 'zod';
import pino from 'pino';
import { CommandRegistry } from '../../src/commands/registry.ts';
import { CriticalInbox } from '../../src/critical/inbox.ts';
import { MAX_WAITING } from '../../src/critical/sender-queues.ts';
import { CohortError } from '../../src/errors.ts';
import { GroupCommit } from '../../src/store/group-commit.ts';

// A node whose home store applies critical messages itself (PostgreSQL) next to commands applied in
// the node's own batches: each sender's messages still take effect in send order (DESIGN's
// guarantee), and a failed one holds the sender's later ones of either kind.
describe('critical inbox with commands that apply themselves', () => {
  const mid = (seq: number) => `0123456789ab.${seq}`;

  function setup() {
    const db = new DatabaseSync(':memory:');
    const registry = new CommandRegistry();
    const applied: string[] = [];
    const failNext = { itself: 0 };
    const seen = new Map<string, unknown>();
    registry.register({
      name: 'slow.itself',
      summary: 'applies itself, after a while (a store of its own)',
      args: z.strictObject({ tag: z.string() }),
      scope: 'any',
      critical: 'itself',
      run: async (a, ctx) => {
        await new Promise((r) => setTimeout(r, 30));
        if (failNext.itself > 0) {
          failNext.itself--;
          throw new CohortError('con_lost', 'its store cannot be reached');
        }
        const key = `${ctx.from}/${ctx.mid}`;
        if (!seen.has(key)) {
          seen.set(key, a.tag);
          applied.push(a.tag);
        }
        return seen.get(key);
      },
    });
    let open = () => {};
    const gate = new Promise<void>((r) => (open = r));
    registry.register({
      name: 'gated.itself',
      summary: 'applies itself once the test opens the gate',
      args: z.strictObject({ tag: z.string() }),
      scope: 'any',
      critical: 'itself',
      run: async (a) => {
        await gate;
        applied.push(a.tag);
        return a.tag;
      },
    });
    registry.register({
      name: 'fast.here',
      summary: "applied in the node's batch",
      args: z.strictObject({ tag: z.string() }),
      scope: 'any',
      critical: true,
      run: (a) => {
        applied.push(a.tag);
        return a.tag;
      },
    });
    const batches: number[] = [];
    // A store's batch, as the inbox sees it: how many messages each ran.
    const batch = async <T,>(work: () => Promise<T>): Promise<T> => {
      const before = applied.length;
      const out = await work();
      batches.push(applied.length - before);
      return out;
    };
    const inbox = new CriticalInbox(db, registry, new GroupCommit(db), pino({ level: 'silent' }), undefined, { batch });
    return { inbox, applied, failNext, batches, open };
  }

  it("applies a sender's messages in the order they came, whichever store applies each", async () => {
    const { inbox, applied } = setup();
    await Promise.all([
      inbox.apply('J', mid(1), 'slow.itself', { tag: 'J1' }),
      inbox.apply('J', mid(2), 'fast.here', { tag: 'J2' }),
      inbox.apply('K', mid(1), 'fast.here', { tag: 'K1' }),
      inbox.apply('J', mid(3), 'slow.itself', { tag: 'J3' }),
    ]);
    assert.deepEqual(applied.filter((t) => t.startsWith('J')), ['J1', 'J2', 'J3']);
    assert.ok(applied.indexOf('K1') < applied.indexOf('J1'), 'another sender does not wait for J');
  });

  it("runs a sender's consecutive messages that apply themselves in one batch of the store", async () => {
    const { inbox, applied, batches } = setup();
    await Promise.all([1, 2, 3].map((n) => inbox.apply('J', mid(n), 'slow.itself', { tag: `J${n}` })));
    assert.deepEqual(applied, ['J1', 'J2', 'J3']);
    assert.deepEqual(batches, [1, 2], 'the first alone (nothing else had come), then the two that came meanwhile');
  });

  it('answers a message sent again while it waits with its first answer, applying it once', async () => {
    const { inbox, applied, open } = setup();
    const first = inbox.apply('J', mid(1), 'gated.itself', { tag: 'J1' });
    const again = inbox.apply('J', mid(1), 'gated.itself', { tag: 'J1' });
    open();
    assert.deepEqual(await Promise.all([first, again]), ['J1', 'J1']);
    assert.deepEqual(applied, ['J1']);
  });

  it("refuses (con_lost) a sender's messages past MAX_WAITING while its queue is full, and takes them again once it drains", async () => {
    const { inbox, applied, open } = setup();
    const waiting = Array.from({ length: MAX_WAITING + 1 }, (_, i) => inbox.apply('J', mid(i + 1), 'gated.itself', { tag: `J${i + 1}` }));
    await assert.rejects(inbox.apply('J', mid(MAX_WAITING + 2), 'gated.itself', { tag: 'over' }), { code: 'con_lost' });
    assert.equal((await inbox.apply('K', mid(1), 'fast.here', { tag: 'K1' })), 'K1', 'other senders are not held up');
    open();
    await Promise.all(waiting);
    assert.equal(applied.length, MAX_WAITING + 2);
    assert.equal(await inbox.apply('J', mid(MAX_WAITING + 2), 'gated.itself', { tag: 'over' }), 'over');
  });

  it("holds the sender's later messages after one failed, until it comes again and is applied", async () => {
    const { inbox, applied, failNext } = setup();
    failNext.itself = 1;
    const [first, second] = await Promise.allSettled([inbox.apply('J', mid(1), 'slow.itself', { tag: 'J1' }), inbox.apply('J', mid(2), 'fast.here', { tag: 'J2' })]);
    assert.equal(first.status === 'rejected' && (first.reason as CohortError).code, 'con_lost');
    assert.equal(second.status === 'rejected' && (second.reason as CohortError).code, 'con_lost', 'held behind J1');
    assert.deepEqual(applied, []);
    assert.equal(await inbox.apply('J', mid(1), 'slow.itself', { tag: 'J1' }), 'J1');
    assert.equal(await inbox.apply('J', mid(2), 'fast.here', { tag: 'J2' }), 'J2');
    assert.deepEqual(applied, ['J1', 'J2']);
  });
});
