import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Backend } from '../../../src/front/backend.ts';
import { frontSchema } from '../../../src/front/config.ts';
import { Lard, LARD_DEFAULTS, MAX_COUNTED_BYTES, MAX_KEY_CHARS, tableKey, type ServerLoad } from '../../../src/lard/lard-table.ts';
import { LardPolicy } from '../../../src/front/policies/lard.ts';
import type { PickContext } from '../../../src/front/policies/policy.ts';

/** 'A:3 B:10 C:40/2' = A load 3, B load 10, C load 40 at capacity 2. */
function loads(spec: string): ServerLoad[] {
  return spec.split(' ').map((part) => {
    const [id, rest] = part.split(':');
    const [load, capacity = '1'] = rest.split('/');
    return { id, load: Number(load), capacity: Number(capacity) };
  });
}

const lard = () => new Lard('lard', LARD_DEFAULTS);
const lardR = () => new Lard('lard_r', LARD_DEFAULTS);
const to = (l: Lard, target: string, spec: string, now = 0) => l.decide(target, loads(spec), now)?.server;

describe('LARD (basic)', () => {
  it('first assignment goes to the least loaded server, ties by id', () => {
    const l = lard();
    assert.deepEqual(l.decide('/a.html', loads('A:10 B:3 C:7'), 0), { server: 'B', why: 'lard: /a.html new, B (0 B placed, load 3)' });
    assert.equal(to(l, '/b.html', 'C:0 B:0 A:0'), 'A');
    assert.equal(l.size, 2);
  });

  it('a target stays on its server while its load is not over T_high', () => {
    const l = lard();
    assert.equal(to(l, '/a', 'A:5 B:0'), 'B');
    assert.equal(to(l, '/a', 'A:0 B:40'), 'B');
    assert.equal(to(l, '/a', 'A:0 B:64'), 'B');
    assert.deepEqual(l.decide('/a', loads('A:0 B:65'), 0), { server: 'B', why: 'lard: /a stays on B (65)' });
  });

  it('moves when over T_high while some server is under T_low, and stays on the new one', () => {
    const l = lard();
    assert.equal(to(l, '/a', 'A:5 B:0 C:9'), 'B');
    assert.deepEqual(l.decide('/a', loads('A:30 B:66 C:24'), 1), {
      server: 'C',
      why: 'lard: /a moved B->C (B 66 > T_high 65, C 24 < T_low 25)',
    });
    assert.equal(to(l, '/a', 'A:0 B:0 C:50'), 'C');
  });

  it('does NOT move when over T_high but nobody is under T_low', () => {
    const l = lard();
    assert.equal(to(l, '/a', 'A:5 B:0 C:9'), 'B');
    assert.deepEqual(l.decide('/a', loads('A:25 B:100 C:40'), 1), { server: 'B', why: 'lard: /a stays on B (100)' });
    assert.equal(to(l, '/a', 'A:25 B:129 C:25'), 'B');
  });

  it('moves at >= 2*T_high regardless of T_low', () => {
    const l = lard();
    assert.equal(to(l, '/a', 'A:5 B:0 C:9'), 'B');
    assert.deepEqual(l.decide('/a', loads('A:120 B:130 C:125'), 1), { server: 'A', why: 'lard: /a moved B->A (B 130 >= 2*T_high 130)' });
    // every server at >= 2*T_high and the target's the least loaded: the least loaded server is itself
    assert.deepEqual(l.decide('/a', loads('A:130 B:140'), 2), {
      server: 'A',
      why: 'lard: /a stays on A, least loaded though A 130 >= 2*T_high 130',
    });
  });

  it('scales T_low, T_high and "least loaded" by capacity', () => {
    const l = lard();
    assert.equal(to(l, '/a', 'A:30/2 B:20'), 'A'); // 15 per unit against 20
    assert.equal(to(l, '/a', 'A:130/2 B:0'), 'A'); // not over its T_high 130
    assert.equal(to(l, '/a', 'A:131/2 B:25'), 'A'); // B not under T_low 25
    assert.deepEqual(l.decide('/a', loads('A:131/2 B:24'), 0), { server: 'B', why: 'lard: /a moved A->B (A 131 > T_high 130, B 24 < T_low 25)' });
    // B (capacity 1) over its T_high 65; C at capacity 2 is under its T_low 50 with 49, not with 50
    assert.equal(to(l, '/a', 'B:66 C:50/2'), 'B');
    assert.deepEqual(l.decide('/a', loads('B:66 C:49/2'), 0), { server: 'C', why: 'lard: /a moved B->C (B 66 > T_high 65, C 49 < T_low 50)' });
    // C at 2*T_high scaled = 260: moves regardless, to B (100 per unit < 130 per unit)
    assert.equal(to(l, '/a', 'B:100 C:259/2'), 'C');
    assert.deepEqual(l.decide('/a', loads('B:100 C:260/2'), 0), { server: 'B', why: 'lard: /a moved C->B (C 260 >= 2*T_high 260)' });
  });

  it('a remembered server that is not a candidate now is replaced as on first assignment', () => {
    const l = lard();
    assert.equal(to(l, '/a', 'A:0 B:5 C:9'), 'A');
    assert.deepEqual(l.decide('/a', loads('B:5 C:3'), 1), { server: 'C', why: 'lard: /a A not a candidate, new, C (0 B placed, load 3)' });
    assert.equal(to(l, '/a', 'A:0 B:5 C:30'), 'C'); // A is back, but /a now lives on C
  });
});

describe('LARD/R (replication)', () => {
  it('the set grows by the least loaded server under the move conditions; requests go to the least loaded member', () => {
    const l = lardR();
    assert.deepEqual(l.decide('/a.html', loads('A:0 B:5 C:9'), 0), { server: 'A', why: 'lard_r: /a.html set [A], new, A (0 B placed, load 0)' });
    // over T_high but nobody under T_low: no growth
    assert.equal(to(l, '/a.html', 'A:66 B:25 C:30', 100), 'A');
    assert.deepEqual(l.decide('/a.html', loads('A:66 B:24 C:10'), 200), {
      server: 'C',
      why: 'lard_r: /a.html set [A,C], grew by C (A 66 > T_high 65, C 10 < T_low 25)',
    });
    // members only: B is idle but not in the set, and nothing is overloaded
    assert.deepEqual(l.decide('/a.html', loads('A:12 B:0 C:40'), 300), { server: 'A', why: 'lard_r: /a.html set [A,C], A least loaded (12)' });
    assert.equal(to(l, '/a.html', 'A:41 B:0 C:40', 400), 'C');
    // >= 2*T_high on the least loaded member: grows regardless of T_low
    assert.deepEqual(l.decide('/a.html', loads('A:140 B:129 C:130'), 500), {
      server: 'B',
      why: 'lard_r: /a.html set [A,B,C], grew by B (C 130 >= 2*T_high 130)',
    });
  });

  it('the set shrinks by its most loaded member once unchanged for more than K, not before, never below one', () => {
    const l = lardR();
    assert.equal(to(l, '/a', 'A:0 B:5', 0), 'A');
    assert.equal(to(l, '/a', 'A:70 B:5', 1_000), 'B'); // set [A,B], modified at 1 000
    assert.deepEqual(l.decide('/a', loads('A:10 B:50'), 21_000), { server: 'A', why: 'lard_r: /a set [A,B], A least loaded (10)' }); // 20 000 ms: not > K
    assert.deepEqual(l.decide('/a', loads('A:10 B:50'), 21_001), {
      server: 'A',
      why: 'lard_r: /a set [A], shrank by B (unchanged 20001 ms > K 20000), A least loaded (10)',
    });
    // the shrink was a change: the next one would need another K, but one member is the floor anyway
    assert.equal(to(l, '/a', 'A:60 B:0', 100_000), 'A');
    assert.equal(to(l, '/a', 'A:60 B:0', 200_000), 'A');
  });

  it('any change restarts the K clock', () => {
    const l = lardR();
    assert.equal(to(l, '/a', 'A:0 B:5 C:5', 0), 'A');
    assert.equal(to(l, '/a', 'A:70 B:5 C:6', 1_000), 'B'); // [A,B] at 1 000
    assert.equal(to(l, '/a', 'A:70 B:70 C:6', 15_000), 'C'); // [A,B,C] at 15 000
    assert.equal(to(l, '/a', 'A:50 B:60 C:40', 30_000), 'C'); // 15 000 since the last change: keeps three
    assert.deepEqual(l.decide('/a', loads('A:50 B:60 C:40'), 35_001), {
      server: 'C',
      why: 'lard_r: /a set [A,C], shrank by B (unchanged 20001 ms > K 20000), C least loaded (40)',
    });
    assert.equal(to(l, '/a', 'A:50 B:60 C:40', 50_000), 'C'); // 14 999 since: keeps two
    assert.equal(to(l, '/a', 'A:50 B:60 C:40', 55_002), 'C'); // shrinks by A
    assert.deepEqual(l.decide('/a', loads('A:0 B:60 C:40'), 55_003), { server: 'C', why: 'lard_r: /a set [C], C least loaded (40)' });
  });

  it('grow and shrink in one step when the set was unchanged for K (the paper picks m before adding p)', () => {
    const l = lardR();
    assert.equal(to(l, '/a', 'A:0 B:5', 0), 'A');
    assert.deepEqual(l.decide('/a', loads('A:70 B:0'), 30_000), {
      server: 'B',
      why: 'lard_r: /a set [B], grew by B (A 70 > T_high 65, B 0 < T_low 25), shrank by A (unchanged 30000 ms > K 20000)',
    });
  });

  it('members that are not candidates leave the set (a change); an emptied set is assigned afresh', () => {
    const l = lardR();
    assert.equal(to(l, '/a', 'A:0 B:5 C:9', 0), 'A');
    assert.equal(to(l, '/a', 'A:70 B:5 C:9', 1_000), 'B'); // [A,B]
    assert.deepEqual(l.decide('/a', loads('A:10 C:0'), 30_000), { server: 'A', why: 'lard_r: /a set [A], B not a candidate, A least loaded (10)' });
    assert.equal(to(l, '/a', 'A:70 B:0 C:9', 30_500), 'B'); // [A,B] again
    assert.equal(to(l, '/a', 'A:30 B:40', 50_000), 'A'); // 19 500 since the last change: no shrink
    assert.deepEqual(l.decide('/a', loads('C:9'), 50_001), { server: 'C', why: 'lard_r: /a set [C], A,B not a candidate, new, C (0 B placed, load 9)' });
  });

  it('scales by capacity', () => {
    const l = lardR();
    assert.equal(to(l, '/a', 'A:0/2 B:0', 0), 'A');
    assert.equal(to(l, '/a', 'A:130/2 B:0', 1), 'A');
    assert.equal(to(l, '/a', 'A:131/2 B:25', 2), 'A');
    assert.deepEqual(l.decide('/a', loads('A:131/2 B:24'), 3), {
      server: 'B',
      why: 'lard_r: /a set [A,B], grew by B (A 131 > T_high 130, B 24 < T_low 25)',
    });
    assert.equal(to(l, '/a', 'A:60/2 B:31', 4), 'A'); // 30 per unit against 31
  });
});

describe('LARD admission limit', () => {
  it("is the paper's S = (n-1)*T_high + T_low - 1 for equal capacities", () => {
    const l = lard();
    assert.equal(l.admissionLimit(loads('A:0 B:0 C:0 D:0')), 219);
    assert.equal(l.admissionLimit(loads('A:0 B:0')), 89);
    assert.equal(l.admissionLimit(loads('A:0')), 24);
    assert.equal(l.admissionLimit([]), 0);
    assert.equal(new Lard('lard_r', { ...LARD_DEFAULTS, tLow: 10, tHigh: 20 }).admissionLimit(loads('A:0 B:0 C:0')), 49);
  });

  it('with capacities: sum(T_high) - max(T_high_j - T_low_j) - 1, the largest S keeping the guarantee', () => {
    const l = lard();
    // T_high 130 + 65 + 65 = 260; widest band 130 - 50 = 80: 179. Both capacity-1 servers at 65 leave A at most 49 < 50.
    assert.equal(l.admissionLimit(loads('A:0/2 B:0 C:0')), 179);
    assert.equal(l.admissionLimit(loads('A:0/2 B:0/2')), 2 * 89 + 1); // 260 - 80 - 1
    assert.equal(l.admissionLimit(loads('A:0/3')), 74); // one server: its T_low - 1
  });
});

describe('LARD target table', () => {
  it('keeps what each server holds in bytes through growth, shrinking and forgetting', () => {
    const l = new Lard('lard_r', { ...LARD_DEFAULTS, maxTargets: 2 });
    assert.equal(to(l, '/a', 'A:0 B:0', 0), 'A');
    l.sized('/a', 100);
    assert.equal(to(l, '/b', 'A:0 B:0', 0), 'B'); // A holds 100 bytes, B none
    l.sized('/b', 50);
    assert.deepEqual(l.placed(), { A: 100, B: 50 });
    assert.equal(to(l, '/a', 'A:66 B:0', 1), 'B'); // grew by B: B holds /a too
    assert.deepEqual(l.placed(), { A: 100, B: 150 });
    assert.equal(to(l, '/a', 'A:10 B:30', 30_000), 'A'); // unchanged past K: shrank by B
    assert.deepEqual(l.placed(), { A: 100, B: 50 });
    // A third target in a table of two: /c, not yet answered, counts at the mean size known when it
    // was placed (150 / 2), and /b (least recently used) is forgotten, its 50 bytes with it.
    assert.equal(to(l, '/c', 'A:0 B:0', 30_001), 'B');
    assert.deepEqual(l.placed(), { A: 100, B: 75 });
    l.sized('/c', 10);
    assert.deepEqual(l.placed(), { A: 100, B: 10 });
    // A huge answer counts at most MAX_COUNTED_BYTES.
    l.sized('/c', 10 * 2 ** 30);
    assert.deepEqual(l.placed(), { A: 100, B: MAX_COUNTED_BYTES });
  });

  it('holds at most maxTargets, forgets the least recently used first, and a forgotten target is assigned afresh', () => {
    const l = new Lard('lard', { ...LARD_DEFAULTS, maxTargets: 3 });
    assert.equal(to(l, '/a', 'A:0 B:5'), 'A');
    assert.equal(to(l, '/b', 'A:0 B:5'), 'A');
    assert.equal(to(l, '/c', 'A:0 B:5'), 'A');
    assert.equal(to(l, '/a', 'A:10 B:5'), 'A'); // used: /b is now the least recently used
    assert.equal(to(l, '/d', 'A:10 B:5'), 'B');
    assert.equal(l.size, 3);
    assert.deepEqual(l.decide('/b', loads('A:10 B:5'), 0), { server: 'B', why: 'lard: /b new, B (0 B placed, load 5)' }); // forgotten; /c goes
    assert.equal(l.size, 3);
    assert.equal(to(l, '/a', 'A:10 B:5'), 'A'); // still remembered
    assert.equal(to(l, '/c', 'A:10 B:5'), 'B'); // forgotten
  });

  it('a server that is no longer a candidate leaves a target\'s set when the target is next decided', () => {
    const l = lardR();
    assert.equal(to(l, '/a', 'A:0 B:5', 0), 'A');
    assert.equal(to(l, '/a', 'A:70 B:5', 1), 'B'); // [A,B]
    assert.deepEqual(l.decide('/a', loads('B:10 C:0'), 3), { server: 'B', why: 'lard_r: /a set [B], A not a candidate, B least loaded (10)' });
    assert.equal(to(l, '/a', 'A:0 B:10 C:0', 4), 'B', 'A is out of the set for good');
  });

  it('builds no explanation when nobody reads it', () => {
    assert.deepEqual(lard().decide('/a', loads('A:0 B:5'), 0, false), { server: 'A', why: '' });
  });

  it('decides nothing from no servers and leaves the table alone; rejects bad settings', () => {
    const l = lard();
    assert.equal(l.decide('/a', [], 0), undefined);
    assert.equal(l.size, 0);
    assert.throws(() => new Lard('lard', { ...LARD_DEFAULTS, tLow: 65 }), RangeError);
    assert.throws(() => new Lard('lard', { ...LARD_DEFAULTS, maxTargets: 0 }), RangeError);
  });
});

describe('LardPolicy', () => {
  const cfg = frontSchema.parse({ listen: { port: 1 }, backends: [{ id: 'x', host: '127.0.0.1', port: 1 }], health: { slowStartMs: 0 } });
  const made: Backend[] = [];
  after(() => made.forEach((b) => b.close()));
  const backends = (...weights: number[]) => {
    const list = weights.map((weight, i) => new Backend({ id: `b${i}`, host: '127.0.0.1', port: 1 + i, weight, node: `N${i}` }, cfg));
    made.push(...list);
    return list;
  };
  const ctx = (target: string, now = 0): PickContext => ({ target, clientIp: '10.0.0.1', now });

  it('targets the path with its query (as a cache keys it), uses in-flight counts and weights, and explains its pick', () => {
    const policy = new LardPolicy('lard_r');
    assert.equal(policy.name, 'lard_r');
    const [a, b, c] = backends(1, 1, 2);
    a.active = 3;
    b.active = 1;
    c.active = 4; // 2 per unit of weight
    assert.equal(policy.pick([], ctx('/x')), undefined);
    const first = ctx('/a.html?v=1');
    assert.equal(policy.pick([a, b, c], first), b);
    assert.equal(first.why, 'lard_r: /a.html?v=1 set [b1], new, b1 (0 B placed, load 1)');
    b.active = 60;
    const again = ctx('/a.html?v=1', 10);
    assert.equal(policy.pick([a, b, c], again), b);
    assert.equal(again.why, 'lard_r: /a.html?v=1 set [b1], b1 least loaded (60)');
    // Another query is another thing to cache: placed on its own (here the least loaded per unit of weight, c).
    const other = ctx('/a.html?v=2', 10);
    assert.equal(policy.pick([a, b, c], other), c);
    assert.equal(policy.admissionLimit([a, b, c]), 65 + 65 + 130 - 80 - 1);
    // b1 leaves the pool (not a candidate): the target moves, with the pool's least loaded.
    assert.equal(policy.pick([a, c], ctx('/a.html?v=1', 20)), c);
  });

  it('places new targets by the bytes each back-end already holds, learned from whole answers', () => {
    const policy = new LardPolicy('lard_r');
    const [a, b] = backends(1, 1);
    assert.equal(policy.pick([a, b], ctx('/big')), a);
    policy.served('/big', 5_000_000);
    // b holds nothing: the next targets go there until it holds as much, whatever the in-flight counts
    a.active = 0;
    b.active = 10;
    assert.equal(policy.pick([a, b], ctx('/s1')), b);
    policy.served('/s1', 1_000_000);
    assert.equal(policy.pick([a, b], ctx('/s2')), b);
    policy.served('/s2', 1_000_000);
    assert.deepEqual(policy.lard.placed(), { b0: 5_000_000, b1: 2_000_000 });
    // A target not yet answered counts at the mean size known (7 MB / 3), so a burst of new targets spreads.
    assert.equal(policy.pick([a, b], ctx('/s3')), b);
    assert.deepEqual(policy.lard.placed(), { b0: 5_000_000, b1: 4_333_333 });
    // Its answer corrects it; an answer for a target not in the table changes nothing.
    policy.served('/s3', 500_000);
    policy.served('/unknown', 9_000_000);
    assert.deepEqual(policy.lard.placed(), { b0: 5_000_000, b1: 2_500_000 });
    // A back-end over T_high gets no new target while another is not, however few bytes it holds.
    b.active = 66;
    assert.equal(policy.pick([a, b], ctx('/s4')), a);
  });

  it('lard: moves a target off an overloaded back-end', () => {
    const policy = new LardPolicy('lard');
    assert.equal(policy.name, 'lard');
    const [a, b] = backends(1, 1);
    assert.equal(policy.pick([a, b], ctx('/p?q')), a);
    a.active = 66;
    b.active = 24;
    const c = ctx('/p?q');
    assert.equal(policy.pick([a, b], c), b);
    assert.equal(c.why, 'lard: /p?q moved b0->b1 (b0 66 > T_high 65, b1 24 < T_low 25)');
  });

  it('holds a long target by a fixed-size digest, and a short path cut from a long target by a copy of its own', () => {
    const long = `/res/${'a'.repeat(8000)}`;
    assert.equal(tableKey('/short/path'), '/short/path', 'short keys are not hashed');
    assert.equal(tableKey(long), tableKey(`${long}`), 'the same target, the same key');
    assert.notEqual(tableKey(long), tableKey(`${long}b`));
    assert.ok(tableKey(long).length <= MAX_KEY_CHARS && tableKey(long).startsWith('#'));
    // The same long target keeps its place: it is one target, not a new one each time.
    const lard = new Lard('lard', LARD_DEFAULTS);
    assert.equal(lard.decide(long, loads('A:0 B:5'), 0, false)!.server, 'A');
    assert.equal(lard.decide(long, loads('A:5 B:0'), 1, false)!.server, 'A');
    assert.equal(lard.size, 1);
  });

  it('is bounded in bytes: 50,000 targets of 8 KiB, and 50,000 short paths cut from 8 KiB targets (lard.query: false), leave under 32 MiB of heap', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const whole = new LardPolicy('lard_r');
    const paths = new LardPolicy('lard_r', LARD_DEFAULTS, false);
    const list = backends(1, 1);
    const pad = 'x'.repeat(8192);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 50_000; i++) {
      // Flat strings of their own, as a request line's target is (a concatenation would share buffers and hide the cost).
      whole.pick(list, { target: Buffer.from(`/long/${i}?${pad}`).toString(), clientIp: '', now: i, explain: false });
      // The path alone is a slice of the whole target: held, it would keep the 8 KiB alive.
      paths.pick(list, { target: Buffer.from(`/a/short/path/${i}?${pad}`).toString(), clientIp: '', now: i, explain: false });
    }
    gc();
    const grew = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    console.log(`# 100,000 targets from 8 KiB request targets: LARD's heap grew ${grew.toFixed(1)} MiB`);
    assert.equal(whole.lard.size + paths.lard.size, 100_000);
    assert.ok(grew < 32, `heap grew ${grew.toFixed(1)} MiB`);
  });

  it('lard.query: false places a target by its path alone', () => {
    const policy = new LardPolicy('lard', LARD_DEFAULTS, false);
    const [a, b] = backends(1, 1);
    assert.equal(policy.pick([a, b], ctx('/p?v=1')), a);
    b.active = 0;
    a.active = 3;
    assert.equal(policy.pick([a, b], ctx('/p?v=2')), a, 'the same path: the same target');
    assert.equal(policy.lard.size, 1);
  });
});
