import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { AcmeStore, MAX_ACME_VALUE_BYTES, registerAcmeCommands } from '../../src/acme/acme-store.ts';
import { CommandRegistry } from '../../src/commands/registry.ts';
import { renewalDue, allowed } from '../../src/front/tls/acme/acme-manager.ts';

function store(): { s: AcmeStore; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  return { s: new AcmeStore(new DatabaseSync(':memory:'), () => clock.now), clock };
}

describe('AcmeStore (the fronts\' ACME state on a node)', () => {
  it('a lease goes to one holder until it expires or is released; its holder may take it again', () => {
    const { s, clock } = store();
    assert.deepEqual(s.claim('order:x', 'front-1', 10_000), { granted: true, holder: 'front-1', untilMs: clock.now + 10_000 });
    assert.equal(s.claim('order:x', 'front-2', 10_000).granted, false, 'held by another');
    assert.equal(s.claim('order:x', 'front-1', 10_000).granted, true, 'its holder renews it');
    assert.equal(s.release('order:x', 'front-2'), false, 'only the holder releases');
    clock.now += 10_001;
    assert.equal(s.claim('order:x', 'front-2', 10_000).granted, true, 'an expired lease is free');
    assert.equal(s.release('order:x', 'front-2'), true);
    assert.equal(s.claim('order:x', 'front-1', 10_000).granted, true, 'a released lease is free');
  });

  it('items: ttl, ifAbsent keeps the first live value, delete; a value past the bound is refused and changes nothing', () => {
    const { s, clock } = store();
    assert.equal(s.put({ key: 'account:k', value: 'first', ifAbsent: true }).value, 'first');
    assert.equal(s.put({ key: 'account:k', value: 'second', ifAbsent: true }).value, 'first', 'two fronts making the account key agree on the first');
    s.put({ key: 'http-01:tok', value: 'answer', ttlMs: 1000, ifAbsent: false });
    assert.equal(s.get('http-01:tok')?.value, 'answer');
    clock.now += 1001;
    assert.equal(s.get('http-01:tok'), undefined, 'gone after its ttl');
    assert.equal(s.put({ key: 'http-01:tok', value: 'again', ifAbsent: true }).value, 'again', 'an expired item does not hold its key');
    assert.throws(() => s.put({ key: 'cert:x', value: 'x'.repeat(MAX_ACME_VALUE_BYTES + 1), ifAbsent: false }), /at most/);
    assert.equal(s.get('cert:x'), undefined);
    assert.equal(s.remove('account:k'), true);
    assert.equal(s.get('account:k'), undefined);
  });

  it('commands: arguments checked (a key is kind:subject, printable), an app may not send them', () => {
    const registry = new CommandRegistry();
    registerAcmeCommands(registry, store().s);
    assert.throws(() => registry.execute('acme.get', { key: 'no colon' }, { from: 'local' }), /kind:subject/);
    assert.throws(() => registry.execute('acme.put', { key: 'cert:a\nb', value: 'x' }, { from: 'local' }), /kind:subject/);
    assert.throws(() => registry.execute('acme.claim', { name: 'order:x', holder: 'h', ttlMs: 10 }, { from: 'local' }));
    for (const name of ['acme.get', 'acme.put', 'acme.delete', 'acme.claim', 'acme.release']) assert.match(registry.refusal(name, 'app') ?? '', /operator command/);
  });
});

describe('ACME renewal time and on-demand allow-list', () => {
  it('renewal is due once a third of the lifetime is left', () => {
    assert.equal(renewalDue(0, 90), 60);
    assert.equal(renewalDue(1000, 1000 + 6 * 86_400_000), 1000 + 4 * 86_400_000);
  });

  it('an allow-list entry takes the name itself, or one label under *.suffix, nothing else', () => {
    const allow = ['shop.example', '*.sites.example'];
    assert.equal(allowed(allow, 'shop.example'), true);
    assert.equal(allowed(allow, 'a.sites.example'), true);
    assert.equal(allowed(allow, 'a.b.sites.example'), false, 'one label deep only');
    assert.equal(allowed(allow, 'sites.example'), false);
    assert.equal(allowed(allow, 'evil-shop.example'), false);
  });
});
