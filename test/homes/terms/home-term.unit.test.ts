import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { CohortError } from '../../../src/errors.ts';
import { HomeTerm } from '../../../src/homes/terms/home-term.ts';
import { TermStore } from '../../../src/homes/terms/term-store.ts';
import { Voter } from '../../../src/homes/terms/voter.ts';
import { waitFor } from '../../harness/wait.ts';

// A home's side of its terms (issue 27) against three real voters in this process: H the home,
// B its backup, X an access node marked voter. `down` cuts a voter off from H; each voter's
// monotonic clock has an offset of its own (+5 s, 0, -5 s), which changes nothing.
const root = mkdtempSync(join(tmpdir(), 'cohort-home-term-'));
after(() => rmSync(root, { recursive: true, force: true }));
const LEASE = 1000;
const VOTERS = ['B', 'H', 'X'];
const PAIR = ['H', 'B'];
const silent = pino({ level: 'silent' });
let n = 0;

function cluster() {
  const dir = join(root, String(n++));
  const offsets: Record<string, number> = { B: 5000, H: 0, X: -5000 };
  const voters = new Map<string, { v: Voter; store: TermStore }>();
  for (const id of VOTERS) {
    mkdirSync(join(dir, id), { recursive: true });
    const store = new TermStore(join(dir, id));
    voters.set(id, { v: new Voter({ store, leaseMs: LEASE, now: () => performance.now() + offsets[id] }), store });
  }
  const down = new Set<string>();
  const call = async (to: string, cmd: string, args: unknown) => {
    if (down.has(to)) throw new CohortError('con_lost', `${to} cut off`);
    const a = args as { home: string; epoch: number; version: number; inSync: boolean; dryRun: boolean };
    const { v } = voters.get(to)!;
    return cmd === 'home.term.renew' ? v.renew('H', a.home, a) : v.claim('H', a.home, a, PAIR, a.dryRun);
  };
  const term = new HomeTerm({ self: 'H', home: 'H', pair: PAIR, voters: VOTERS, leaseMs: LEASE, call, logger: silent, consentMs: 800 });
  term.start();
  after(() => {
    term.stop();
    for (const { store } of voters.values()) store.close();
  });
  return { term, voters, down };
}

test('the home takes an epoch and holds its lease with a majority; without one its lease lapses within three quarters of a lease, and comes back with it', async () => {
  const { term, voters, down } = cluster();
  await waitFor('lease held', () => term.holdsLease(), 5000);
  assert.equal(term.status().epoch, 1);
  for (const { v } of voters.values()) assert.equal(v.term('H').epoch, 1);
  down.add('X');
  await new Promise((r) => setTimeout(r, LEASE));
  assert.ok(term.holdsLease(), 'two of three still renew it');
  down.add('B');
  const cut = performance.now();
  await waitFor('lease lapsed', () => !term.holdsLease(), 5000);
  assert.ok(performance.now() - cut <= 0.75 * LEASE + 50, 'no longer than three quarters of a lease after the last round a majority answered');
  assert.throws(() => term.fence('rec.put'), (e: CohortError) => e.code === 'con_lost' && /does not hold H's lease/.test(e.message));
  down.clear();
  await waitFor('lease back', () => term.holdsLease(), 5000);
});

test('a write is answered alone only once a majority recorded the backup out of step; without a majority it is refused (con_lost)', async () => {
  const { term, voters, down } = cluster();
  await waitFor('lease held', () => term.holdsLease(), 5000);
  await term.setInSync(true);
  await waitFor('in step recorded', () => [...voters.values()].filter(({ v }) => v.term('H').inSync).length >= 2, 5000);
  down.add('B');
  await term.setInSync(false);
  assert.ok(term.aloneAllowed());
  assert.equal(voters.get('B')!.v.term('H').inSync, true, 'B was cut off: it holds the old flag');
  assert.equal([...voters.values()].filter(({ v }) => v.term('H').inSync === false).length, 2, 'H and X recorded it');
  await term.setInSync(true);
  await waitFor('in step recorded', () => voters.get('X')!.v.term('H').inSync, 5000);
  down.add('X');
  await assert.rejects(term.setInSync(false), (e: CohortError) => e.code === 'con_lost' && /no majority/.test(e.message));
  assert.equal(term.aloneAllowed(), false);
  assert.equal(voters.get('X')!.v.term('H').inSync, true, 'no majority recorded it, so the backup may still be promoted, and nothing was answered alone');
});

test('a minority holding a later epoch (a claim that did not win) is put right by a new epoch of the home; a majority at a later epoch ends its lease', async () => {
  const { term, voters, down } = cluster();
  await waitFor('lease held', () => term.holdsLease(), 5000);
  voters.get('X')!.store.put('H', { epoch: 7, primary: 'B', inSync: true, version: 0 });
  await waitFor('X back on H', () => voters.get('X')!.v.term('H').primary === 'H', 5000);
  assert.equal(term.status().epoch, 8);
  assert.ok(term.holdsLease());
  // B won a majority at a later epoch (as a promotion would): H takes nothing more.
  down.add('X');
  voters.get('B')!.store.put('H', { epoch: 20, primary: 'B', inSync: true, version: 0 });
  const renewing = setInterval(() => voters.get('B')!.v.renew('B', 'H', { epoch: 20, version: 0, inSync: true }), LEASE / 8);
  after(() => clearInterval(renewing));
  await waitFor('lease gone', () => !term.holdsLease(), 5000);
  await new Promise((r) => setTimeout(r, LEASE));
  assert.equal(term.holdsLease(), false, "B's lease runs at B: H's claims are refused");
  assert.deepEqual(term.status().heldBy, { epoch: 20, primary: 'B' });
});
