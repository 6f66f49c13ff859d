import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { takeCookie } from '../../src/front/balance/sticky-tokens.ts';
import { SessionTracker } from '../../src/front/session-tracker.ts';

describe('session tracker (draining counts, bounded memory)', () => {
  const t0 = 1_800_000_000_000;

  it('counts issued sessions without storing them, and moves one to the map when its cookie returns', () => {
    const s = new SessionTracker(600_000, 100);
    for (let i = 0; i < 10_000; i++) s.issued(t0 + i);
    assert.equal(s.live(t0 + 10_000), 10_000);
    assert.equal(s.tracked, 0, 'nothing stored for cookies that never came back');
    s.seenNow('tok-a', t0 + 5, t0 + 20_000);
    assert.equal(s.live(t0 + 20_000), 10_000, 'the returning one is counted once');
    assert.equal(s.tracked, 1);
    assert.equal(s.live(t0 + 610_000), 1, 'issued ones age out of the window; the seen one is pruned later');
    assert.equal(s.live(t0 + 20_000 + 600_001), 0);
  });

  it('holds at most maxTracked tokens however they arrive (requests or closed tunnels), oldest out', () => {
    const s = new SessionTracker(600_000, 100);
    for (let i = 0; i < 1000; i++) s.seenNow(`r${i}`, t0, t0 + i);
    for (let i = 0; i < 1000; i++) {
      s.tunnelOpened(`w${i}`);
      s.tunnelClosed(`w${i}`, t0 + 1000 + i);
    }
    assert.equal(s.tracked, 100);
    assert.equal(s.evicted, 1900);
    assert.equal(s.live(t0 + 2000), 100);
  });

  it('a session with a tunnel open stays live past the idle window; a renewed one counts once', () => {
    const s = new SessionTracker(1000, 100);
    s.seenNow('ws', t0, t0);
    s.tunnelOpened('ws');
    assert.equal(s.live(t0 + 5000), 1);
    s.tunnelClosed('ws', t0 + 5000);
    assert.equal(s.live(t0 + 5500), 1);
    assert.equal(s.live(t0 + 7000), 0);
    s.seenNow('old', t0, t0 + 7000);
    s.forget('old');
    s.issued(t0 + 7000);
    assert.equal(s.live(t0 + 7000), 1);
  });

  it('keeps a token, not the Cookie header it came in: 20,000 tokens from 16 KiB headers leave under 16 MiB of heap', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const s = new SessionTracker(600_000, 50_000);
    const pad = 'x'.repeat(16_000);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 20_000; i++) {
      // As the proxy reads it: the sticky cookie taken out of a whole (flat) Cookie header.
      const { value } = takeCookie(Buffer.from(`pad=${pad}; sid=${i}-abcdefgh.serverTag12.macmacmacmacmac`).toString(), 'sid');
      s.seenNow(value!, t0, t0 + i);
      s.tunnelOpened(value!);
    }
    gc();
    const grew = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    console.log(`# 20,000 tokens from 16 KiB Cookie headers: the tracker's heap grew ${grew.toFixed(1)} MiB`);
    assert.equal(s.tracked, 40_000);
    assert.ok(grew < 16, `heap grew ${grew.toFixed(1)} MiB`);
  });
});
