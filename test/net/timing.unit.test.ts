import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AwakeClock } from '../../src/net/awake-clock.ts';
import { Backoff } from '../../src/net/backoff.ts';
import { Heartbeat } from '../../src/net/heartbeat.ts';

describe('heartbeat (fake clock)', () => {
  it('sends when quiet, stays quiet while traffic flows, declares dead when nothing is heard', () => {
    const hb = new Heartbeat(1000, 3000, 0);
    assert.equal(hb.tick(500), 'none');
    assert.equal(hb.tick(1000), 'send');
    hb.sent(1000);
    hb.heard(1200);
    assert.equal(hb.tick(1500), 'none');
    assert.equal(hb.tick(2000), 'send');
    hb.sent(2000);
    assert.equal(hb.tick(4199), 'send');
    assert.equal(hb.tick(4200), 'dead');
  });
});

describe('awake clock (fake clock)', () => {
  it('follows real time while ticks come on time; a stall counts as two ticks, or a quarter of it if more', () => {
    let real = 1000;
    const clock = new AwakeClock(250, () => real);
    for (let i = 0; i < 4; i++) { real += 250; clock.tick(); }
    assert.equal(clock.now(), 1000);
    real += 1200; // the process did not run for 1.2 s
    assert.equal(clock.now(), 1500, "between ticks too: two ticks' worth");
    assert.equal(clock.tick(), 1500);
    assert.equal(clock.stalledMs, 700);
    real += 250;
    assert.equal(clock.tick(), 1750);
    real += 12_000; // twelve seconds: three count
    assert.equal(clock.tick(), 4750);
    // Ticks late again and again (load, not a freeze): a quarter of real time still counts.
    for (let i = 0; i < 10; i++) { real += 4000; clock.tick(); }
    assert.equal(clock.now(), 14_750);
  });

  it('a peer silent while this process stalled is not dead; one silent while it ran is', () => {
    let real = 0;
    const clock = new AwakeClock(250, () => real);
    const hb = new Heartbeat(1000, 3000, clock.now());
    real += 5000; // frozen: on the wall clock the peer has been silent for five seconds
    assert.notEqual(hb.tick(clock.tick()), 'dead');
    hb.heard(clock.now()); // what waited in the socket is read after the timers
    let verdict = hb.tick(clock.now());
    for (let i = 0; verdict !== 'dead' && i < 100; i++) { real += 250; verdict = hb.tick(clock.tick()); }
    assert.equal(verdict, 'dead');
    assert.equal(real, 5000 + 3000, 'dead after deadAfterMs of running');
    // A freeze longer than four times deadAfterMs is a death, freeze or not.
    const later = new Heartbeat(1000, 3000, clock.now());
    real += 12_000;
    assert.equal(later.tick(clock.tick()), 'dead');
  });
});

describe('back-off', () => {
  it('grows exponentially up to the cap, with jitter within bounds', () => {
    const top = new Backoff(100, 2000, () => 1);
    assert.deepEqual(Array.from({ length: 7 }, () => top.next()), [100, 200, 400, 800, 1600, 2000, 2000]);
    const bottom = new Backoff(100, 2000, () => 0);
    assert.deepEqual(Array.from({ length: 3 }, () => bottom.next()), [50, 50, 50]);
    top.reset();
    assert.equal(top.next(), 100);
  });

  it("without jitter is the plain doubling (as the replicator's update retries and the outbox's redials use it)", () => {
    const plain = new Backoff(1000, 60_000, null);
    assert.deepEqual(Array.from({ length: 8 }, () => plain.next()), [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    const uncapped = new Backoff(50, Infinity, null);
    assert.equal(uncapped.delay(), 50);
    uncapped.attempts++;
    assert.equal(uncapped.delay(), 100);
  });
});
