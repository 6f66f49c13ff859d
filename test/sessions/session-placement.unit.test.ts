import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { newSessionId } from '../../src/client/sessions.ts';
import { loadHostTable, type HostTable } from '../../src/config/host-table.ts';
import { placement } from '../../src/sessions/placement.ts';

// A session is personal data of the domain of the node that made it: both of its copies stay on
// nodes of that domain or of one it trusts (the host table's `trust`).
const dir = mkdtempSync(join(tmpdir(), 'cohort-placement-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function table(name: string, trust: string): HostTable {
  const nodes = [['A', 'msu', 'library'], ['C', 'msu', 'access'], ['D', 'msu', 'access'], ['E', 'rice', 'library'], ['I', 'rice', 'access'], ['J', 'rice', 'access'], ['K', 'rice', 'access'], ['O', 'osu', 'access']];
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, [
    'cluster: t', 'dataDir: ./data', 'tls: { dir: ./tls }', 'domains: [msu, rice, osu]', trust, 'nodes:',
    ...nodes.map(([id, domain, role], i) => `  - { id: ${id}, domain: ${domain}, role: ${role}, host: 127.0.0.1, linkPort: ${7000 + 2 * i}, httpPort: ${7001 + 2 * i} }`),
    '',
  ].join('\n'));
  return loadHostTable(file);
}

const domainOf = (t: HostTable, node: string) => t.nodes.find((n) => n.id === node)!.domain;
const sample = (maker: string) => Array.from({ length: 400 }, () => newSessionId(maker));

test("without trust, both copies of a session stay in its maker's domain", () => {
  const t = table('none', 'trust: {}');
  for (const sid of sample('C')) assert.deepEqual(placement(t, sid), ['C', 'D'], sid);
  for (const sid of sample('I')) {
    const [first, second] = placement(t, sid);
    assert.equal(first, 'I');
    assert.ok(['J', 'K'].includes(second), `${sid}: second copy on ${second}`);
  }
  // A library node's sessions live on its domain's access nodes; a domain with one session node keeps one copy.
  for (const sid of sample('A')) assert.deepEqual(placement(t, sid).map((n) => domainOf(t, n)), ['msu', 'msu'], sid);
  for (const sid of sample('O')) assert.deepEqual(placement(t, sid), ['O'], sid);
});

test('trust widens where second copies may go, one way only', () => {
  const t = table('one-way', 'trust: { msu: [rice] }');
  const seconds = new Set(sample('C').map((sid) => placement(t, sid)[1]));
  assert.ok([...seconds].some((n) => domainOf(t, n) === 'rice'), `msu trusts rice: some second copies there (${[...seconds]})`);
  assert.ok(![...seconds].includes('O'), 'never osu');
  for (const sid of sample('J')) assert.ok(placement(t, sid).every((n) => domainOf(t, n) === 'rice'), `rice trusts no one: ${sid} on ${placement(t, sid)}`);
});

test('an id without a known maker: its second copy follows the first one\'s domain', () => {
  const t = table('unknown', 'trust: {}');
  for (let i = 0; i < 400; i++) {
    const copies = placement(t, `plainsessionid${i.toString().padStart(8, '0')}`);
    assert.equal(new Set(copies.map((n) => domainOf(t, n))).size, 1, `${copies}`);
  }
});
