import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import pino from 'pino';
import { z } from 'zod';
import { CommandRegistry } from '../../src/commands/registry.ts';
import { CriticalInbox } from '../../src/critical/inbox.ts';
import { CohortError } from '../../src/errors.ts';
import { GroupCommit } from '../../src/store/group-commit.ts';

// A message refused for now inside its job (con_lost: a home without its lease, issue 27) holds
// the sender's later messages back until it is applied, so they take effect in send order when
// the sender sends them again from the refused one, as after a failed commit. Also in a lane:
// its messages are kept apart from the sender's others.
test('a write refused for now (con_lost) holds the same sender\'s later ones until it is applied; other senders and lanes go on', async () => {
  const db = new DatabaseSync(':memory:');
  const registry = new CommandRegistry();
  const applied: string[] = [];
  const fenced = { on: true };
  registry.register({
    name: 'w',
    summary: 'a write a fence may refuse for now',
    args: z.strictObject({ tag: z.string(), fence: z.boolean() }),
    scope: 'any',
    critical: true,
    run: (a) => {
      if (a.fence && fenced.on) throw new CohortError('con_lost', 'no lease now');
      applied.push(a.tag);
      return a.tag;
    },
  });
  const inbox = new CriticalInbox(db, registry, new GroupCommit(db), pino({ level: 'silent' }));
  const mid = (seq: number) => `0123456789ab.${seq}`;
  await assert.rejects(inbox.apply('J', mid(1), 'w', { tag: 'first', fence: true }), { code: 'con_lost' });
  // Its next message was on the wire already: it must not take effect before the first.
  await assert.rejects(inbox.apply('J', mid(2), 'w', { tag: 'second', fence: false }), { code: 'con_lost', message: /held/ });
  assert.deepEqual(await inbox.apply('K', mid(2), 'w', { tag: 'other sender', fence: false }), 'other sender');
  assert.deepEqual(await inbox.apply('J', mid(3), 'w', { tag: 'in a lane', fence: false }, undefined, 'A'), 'in a lane', "the sender's lane is apart");
  fenced.on = false;
  assert.equal(await inbox.apply('J', mid(1), 'w', { tag: 'first', fence: true }), 'first');
  assert.equal(await inbox.apply('J', mid(2), 'w', { tag: 'second', fence: false }), 'second');
  assert.deepEqual(applied, ['other sender', 'in a lane', 'first', 'second']);
});
