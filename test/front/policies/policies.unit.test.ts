import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Backend } from '../../../src/front/backend.ts';
import { frontSchema, POLICY_NAMES, routeConfigs } from '../../../src/front/config.ts';
import { createPolicy } from '../../../src/front/policies/index.ts';
import type { PickContext } from '../../../src/front/policies/policy.ts';
import { RetryBudget } from '../../../src/front/retry-budget.ts';
import { StickyTokens, takeCookie } from '../../../src/front/balance/sticky-tokens.ts';

const cfg = frontSchema.parse({ listen: { port: 1 }, backends: [{ id: 'x', host: '127.0.0.1', port: 1 }], health: { slowStartMs: 0 } });
const route = routeConfigs(cfg)[0];
const made: Backend[] = [];
function backends(...weights: number[]): Backend[] {
  const list = weights.map((weight, i) => new Backend({ id: `b${i}`, host: '127.0.0.1', port: 1 + i, weight, node: `N${i}` }, cfg));
  made.push(...list);
  return list;
}
const ctx = (target = '/', clientIp = '10.0.0.1'): PickContext => ({ target, clientIp, now: Date.now() });
after(() => made.forEach((b) => b.close()));

// The conformance suite every policy passes (Hono's router suite is the model).
describe('every balancing policy', () => {
  for (const name of POLICY_NAMES) {
    const policy = createPolicy({ ...route, policy: name }, () => undefined);
    it(`${name}: picks only among the candidates, and nothing from none`, () => {
      const list = backends(1, 1, 1);
      assert.equal(policy.pick([], ctx()), undefined);
      for (let i = 0; i < 50; i++) {
        const chosen = policy.pick(list.slice(1), ctx(`/p${i}`, `10.0.0.${i}`));
        assert.ok(chosen === list[1] || chosen === list[2]);
      }
      assert.equal(policy.pick([list[0]], ctx()), list[0]);
    });
  }
});

describe('each policy matches its definition', () => {
  it('round_robin: smooth and weighted, 3:1 over 100 picks is exactly 75:25, never three in a row of the light one', () => {
    const policy = createPolicy({ ...route, policy: 'round_robin' }, () => undefined);
    const [a, b] = backends(3, 1);
    const picks = Array.from({ length: 100 }, () => policy.pick([a, b], ctx())!.id);
    assert.equal(picks.filter((p) => p === 'b0').length, 75);
    assert.ok(!picks.join(',').includes('b1,b1'));
  });

  it('least_conn: the fewest in flight per unit of weight', () => {
    const policy = createPolicy({ ...route, policy: 'least_conn' }, () => undefined);
    const [a, b, c] = backends(1, 1, 2);
    a.active = 3;
    b.active = 1;
    c.active = 3; // (3+1)/2 = 2 per weight, b has (1+1)/1 = 2: tie, b or c
    assert.ok([b, c].includes(policy.pick([a, b, c], ctx())!));
    b.active = 5;
    assert.equal(policy.pick([a, b, c], ctx()), c);
  });

  it('p2c: of the two sampled, never the busier', () => {
    const policy = createPolicy({ ...route, policy: 'p2c' }, () => undefined);
    const [a, b] = backends(1, 1);
    a.active = 10;
    for (let i = 0; i < 50; i++) assert.equal(policy.pick([a, b], ctx()), b);
  });

  it('least_load: the lowest node load; ties within 5 points by fewest in flight; no figures fall back', () => {
    const loads: Record<string, number> = { N0: 80, N1: 12, N2: 15 };
    const policy = createPolicy({ ...route, policy: 'least_load' }, (n) => loads[n]);
    const [a, b, c] = backends(1, 1, 1);
    b.active = 4;
    assert.equal(policy.pick([a, b, c], ctx()), c, 'N1 and N2 are within 5 points; N2 has fewer in flight');
    loads.N2 = 40;
    assert.equal(policy.pick([a, b, c], ctx()), b);
    const blind = createPolicy({ ...route, policy: 'least_load' }, () => undefined);
    a.active = 0;
    c.active = 2;
    assert.equal(blind.pick([a, b, c], ctx()), a, 'without figures: fewest in flight');
  });

  it('source_ip: one client, one back-end; when a back-end leaves only its clients move', () => {
    const policy = createPolicy({ ...route, policy: 'source_ip' }, () => undefined);
    const list = backends(1, 1, 1, 1);
    const ips = Array.from({ length: 400 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
    const before = ips.map((ip) => policy.pick(list, ctx('/', ip))!);
    ips.forEach((ip, i) => assert.equal(policy.pick(list, ctx('/', ip)), before[i]));
    const counts = list.map((b) => before.filter((x) => x === b).length);
    assert.ok(counts.every((n) => n > 60), `spread ${counts}`);
    const without = list.slice(1);
    ips.forEach((ip, i) => {
      const now = policy.pick(without, ctx('/', ip));
      if (before[i] !== list[0]) assert.equal(now, before[i], 'clients of the others stay');
    });
  });

  it('chash: one URL, one back-end; a hot URL spills over once its back-end is past the load bound', () => {
    const policy = createPolicy({ ...route, policy: 'chash', chashLoadFactor: 1.25 }, () => undefined);
    const list = backends(1, 1, 1);
    const home = policy.pick(list, ctx('/hot.html'))!;
    for (let i = 0; i < 20; i++) assert.equal(policy.pick(list, ctx('/hot.html')), home);
    const spread = new Set(Array.from({ length: 200 }, (_, i) => policy.pick(list, ctx(`/page${i}`))));
    assert.equal(spread.size, 3);
    home.active = 10; // bound = ceil(1.25 * 11 / 3) = 5
    assert.notEqual(policy.pick(list, ctx('/hot.html')), home);
    home.active = 0;
    assert.equal(policy.pick(list, ctx('/hot.html')), home, 'and comes back when it cools down');
  });
});

describe('sticky tokens', () => {
  const ids = ['web1', 'web2'];
  it('verify what they issue, reveal nothing of the id, and accept old keys while renewing', () => {
    const old = new StickyTokens(['old-key-0123456789abcdef'], 3600, ids);
    const rotated = new StickyTokens(['new-key-0123456789abcdef', 'old-key-0123456789abcdef'], 3600, ids);
    const now = 1_800_000_000_000;
    const t = old.issue('web2', now);
    assert.ok(!t.includes('web'));
    assert.deepEqual(old.verify(t, now), { backendId: 'web2', issuedMs: now, renew: false });
    assert.deepEqual(rotated.verify(t, now), { backendId: 'web2', issuedMs: now, renew: true });
    assert.equal(new StickyTokens(['other-key-0123456789abc'], 3600, ids).verify(t), undefined);
    assert.equal(old.verify(t, now + 3_700_000), undefined, 'stale');
    assert.equal(old.verify(t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A'), now), undefined, 'tampered');
  });
  it('the cookie is taken out of the Cookie header', () => {
    assert.deepEqual(takeCookie('a=1; cohort_srv=tok; b=2', 'cohort_srv'), { value: 'tok', rest: 'a=1; b=2' });
    assert.deepEqual(takeCookie('a=1', 'cohort_srv'), { value: undefined, rest: 'a=1' });
  });
});

describe('retry budget', () => {
  it('allows a floor per second plus a share of requests, then says no', () => {
    const budget = new RetryBudget(0.1, 1);
    const now = 1_000_000;
    for (let i = 0; i < 100; i++) budget.request(now);
    let allowed = 0;
    while (budget.tryRetry(now)) allowed++;
    assert.equal(allowed, 20); // 1/s × 10 s + 10% of 100
  });
});
