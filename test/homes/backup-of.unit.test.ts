import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parseHostTable } from '../../src/config/host-table.ts';
import { backupOf, homesBackedUpBy } from '../../src/homes/backup-of.ts';
import { termPairOf, votersOf } from '../../src/homes/terms/voters.ts';

const node = (id: string, i: number, more: Record<string, unknown> = {}) => ({ id, domain: 'msu', role: 'library', host: '127.0.0.1', linkPort: 22000 + 2 * i, httpPort: 22001 + 2 * i, ...more });
const table = (nodes: Record<string, unknown>[]) => parseHostTable('/tmp/hosts.yaml', stringify({ cluster: 'test', dataDir: './data', tls: { dir: './tls' }, domains: ['msu'], nodes }));

// Issue 28: a library node joining moves no running home's backup and changes no home's voters.
describe('a library node joining', () => {
  const homes = ['A', 'E', 'F', 'G', 'H'].map((id, i) => node(id, i));
  const before = table(homes);
  // Several joiners: each would win some homes' rendezvous as a full member.
  const joiners = ['N', 'P', 'Q', 'R'].map((id, i) => node(id, 10 + i, { joining: true }));
  const after = table([...homes, ...joiners]);

  it("keeps every running home's backup, and backs up none", () => {
    for (const h of homes) assert.equal(backupOf(after, h.id), backupOf(before, h.id), h.id);
    for (const j of joiners) assert.deepEqual(homesBackedUpBy(after, j.id), [], j.id);
    const full = table([...homes, ...joiners.map((j) => ({ ...j, joining: undefined }))]);
    assert.ok(homes.some((h) => backupOf(full, h.id) !== backupOf(before, h.id)), 'as full members they would move some backups');
  });

  it('has a backup of its own among the running library nodes', () => {
    for (const j of joiners) assert.ok(homes.some((h) => h.id === backupOf(after, j.id)), j.id);
  });

  it("does not vote: every home's voters are the same, its own terms are voted on by the others", () => {
    assert.deepEqual(votersOf(after, 'msu'), votersOf(before, 'msu'));
    assert.deepEqual(termPairOf(after, 'N')?.voters, ['A', 'E', 'F', 'G', 'H']);
  });
});
