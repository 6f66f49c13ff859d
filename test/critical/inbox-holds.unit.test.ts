import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { InboxHolds } from '../../src/critical/inbox-holds.ts';

// What lifts a hold, and what must not: the held message's sender says how far it got
// (`oldest`), and a sender that does not say (an older version) is waited for as before.
const inc = 'abcdef012345';
const mid = (seq: number) => `${inc}.${seq}`;
const never = () => false;
const refused = (fn: () => void) => assert.throws(fn, (err: { code?: string }) => err.code === 'con_lost');

describe('InboxHolds', () => {
  it('refuses later messages while the held one may still come, whatever they say of it', () => {
    const holds = new InboxHolds(pino({ enabled: false }));
    holds.failed('A', mid(5));
    refused(() => holds.admit('A', mid(6), undefined, never)); // a sender that does not say
    refused(() => holds.admit('A', mid(7), 5, never)); // 5 is still pending at the sender
    holds.admit('A', mid(5), 5, never); // the held one itself comes through
    holds.admit('B', mid(9), undefined, never); // other senders are not held
  });

  it('lifts the hold once the sender says it is past the held message', () => {
    const holds = new InboxHolds(pino({ enabled: false }));
    holds.failed('A', mid(5));
    holds.admit('A', mid(8), 6, never);
    holds.admit('A', mid(9), undefined, never);
  });

  it('a wiped sender (a new incarnation) lifts the hold', () => {
    const holds = new InboxHolds(pino({ enabled: false }));
    holds.failed('A', mid(5));
    holds.admit('A', '0123456789ab.1', undefined, never);
    holds.admit('A', mid(9), undefined, never);
  });
});
