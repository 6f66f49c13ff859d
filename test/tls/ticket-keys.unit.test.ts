import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TicketKeyRing } from '../../src/tls/ticket-keys.ts';

const HOUR = 3_600_000;

describe('session ticket keys: derived from the cluster secret, rotated with overlap', () => {
  it('two rings with the same secret hold the same keys at the same time; another secret, other keys', () => {
    const settings = { secret: 's'.repeat(32), rotateMs: HOUR, lifetimeMs: 2 * HOUR };
    const a = new TicketKeyRing(settings);
    const b = new TicketKeyRing({ ...settings });
    const now = 1_000 * HOUR + 5;
    assert.deepEqual(a.current(now), b.current(now));
    assert.equal(a.current(now).keys.length, 48);
    assert.equal(a.current(now).name, a.current(now).keys.subarray(0, 16).toString('hex'));
    assert.notEqual(new TicketKeyRing({ ...settings, secret: 't'.repeat(32) }).current(now).name, a.current(now).name);
    assert.notEqual(a.current(now + HOUR).name, a.current(now).name, 'a new key each rotation');
  });

  it('a key opens tickets for its lifetime after it stops sealing, and not after', () => {
    const ring = new TicketKeyRing({ secret: 's'.repeat(32), rotateMs: HOUR, lifetimeMs: 2 * HOUR });
    const sealedAt = 1_000 * HOUR;
    const name = ring.current(sealedAt).name;
    assert.equal(ring.find(name, sealedAt + HOUR)?.name, name);
    assert.equal(ring.find(name, sealedAt + 2 * HOUR)?.name, name);
    assert.equal(ring.find(name, sealedAt + 3 * HOUR), undefined);
    assert.equal(ring.find('00'.repeat(16), sealedAt), undefined);
  });

  it('without a secret: one random key for the life of the ring', () => {
    const ring = new TicketKeyRing({ secret: undefined, rotateMs: HOUR, lifetimeMs: HOUR });
    const key = ring.current(0);
    assert.deepEqual(ring.current(100 * HOUR), key);
    assert.equal(ring.find(key.name)?.name, key.name);
    assert.notEqual(new TicketKeyRing({ secret: undefined, rotateMs: HOUR, lifetimeMs: HOUR }).current(0).name, key.name);
    assert.ok(ring.sameAs({ secret: undefined, rotateMs: HOUR, lifetimeMs: HOUR }));
    assert.ok(!ring.sameAs({ secret: 's'.repeat(32), rotateMs: HOUR, lifetimeMs: HOUR }));
  });

  it("shared: a stand-in key seals until the node network's key for the generation is learnt; learnt keys open tickets for their lifetime", () => {
    const ring = new TicketKeyRing({ secret: undefined, shared: true, rotateMs: HOUR, lifetimeMs: 2 * HOUR });
    const now = 1_000 * HOUR + 5;
    assert.ok(ring.shared);
    assert.deepEqual(ring.unlearnt(now), [998, 999, 1000, 1001], 'the open generations and the next one');
    const standIn = ring.current(now);
    const shared = Buffer.alloc(48, 7);
    ring.learn(1000, shared);
    assert.equal(ring.current(now).name, shared.subarray(0, 16).toString('hex'), 'the learnt key seals from now on');
    assert.notEqual(ring.current(now).name, standIn.name);
    assert.deepEqual(ring.unlearnt(now), [998, 999, 1001]);
    const next = Buffer.alloc(48, 9);
    ring.learn(1001, next);
    assert.equal(ring.current(now + HOUR).name, next.subarray(0, 16).toString('hex'), 'the next generation seals at its hour, as on every front');
    assert.equal(ring.find(shared.subarray(0, 16).toString('hex'), now + 2 * HOUR)?.name, shared.subarray(0, 16).toString('hex'), 'still opens within its lifetime');
    assert.equal(ring.find(shared.subarray(0, 16).toString('hex'), now + 4 * HOUR), undefined, 'gone after it');
    assert.throws(() => ring.learn(1002, Buffer.alloc(47)), /48 bytes/);
    assert.ok(!ring.sameAs({ secret: undefined, rotateMs: HOUR, lifetimeMs: 2 * HOUR }), 'shared and random rings differ');
  });
});
