import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { parseHostTable } from '../../src/config/host-table.ts';
import { makeOperatorKey, pinnedOperatorKey, signatureFile, signTable, tableHash, verifySignedTable } from '../../src/config/signed-table.ts';
import { judgeVersion, reusesRemovedId, splitChange, tableChange } from '../../src/config/table-change.ts';
import { tableToRun } from '../../src/node/accepted-table.ts';

const node = (id: string, i: number, more: Record<string, unknown> = {}) => ({ id, domain: 'msu', role: i === 0 ? 'library' : 'access', host: '127.0.0.1', linkPort: 21000 + 2 * i, httpPort: 21001 + 2 * i, ...more });
const text = (version: number | undefined, nodes = ['A', 'B'], extra: Record<string, unknown> = {}) =>
  stringify({ ...(version === undefined ? {} : { version }), cluster: 'test', dataDir: './data', tls: { dir: './tls' }, domains: ['msu'], nodes: nodes.map((id, i) => node(id, i)), ...extra });

describe('signed host tables', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-signed-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const keys = makeOperatorKey(join(dir, 'tls'));
  const other = makeOperatorKey(join(dir, 'other'));
  const file = join(dir, 'hosts.yaml');
  const key = pinnedOperatorKey(join(dir, 'tls'))!;

  it('a table signed with the pinned key is taken with its version and hash; altered, other key, or no version is refused', () => {
    const signed = signTable(text(4), keys.privateKey);
    const v = verifySignedTable(signed, key, file);
    assert.equal(v.version, 4);
    assert.equal(v.hash, tableHash(text(4)));
    assert.throws(() => verifySignedTable({ ...signed, text: signed.text.replace('21000', '21009') }, key, file), /does not match the operator's key/);
    assert.throws(() => verifySignedTable(signTable(text(4), other.privateKey), key, file), /does not match/);
    assert.throws(() => verifySignedTable({ ...signed, signature: 'not base64!' }, key, file), /not 64 bytes/);
    assert.throws(() => verifySignedTable(signTable(text(undefined), keys.privateKey), key, file), /no version/);
    assert.throws(() => verifySignedTable(signTable(text(5, ['A', 'A']), keys.privateKey), key, file), /signed, but not a host table that can be used/);
    assert.equal(makeOperatorKey(join(dir, 'tls')).created, false, 'kept');
  });

  it('versions: newer is taken, the same one is already held, older and another text of the same one are refused', () => {
    const held = { version: 3, hash: 'a'.repeat(64) };
    assert.equal(judgeVersion(held, { version: 4, hash: 'b'.repeat(64) }), 'take');
    assert.equal(judgeVersion(held, { ...held }), 'have');
    assert.match(judgeVersion(held, { version: 2, hash: 'b'.repeat(64) }), /older/);
    assert.match(judgeVersion(held, { version: 3, hash: 'b'.repeat(64) }), /another text/);
    // An id removed stays removed: a later version that forgets it (and could list it again) is refused.
    assert.match(reusesRemovedId({ removed: ['B'] }, { removed: [] }) ?? '', /drops B from removed/);
    assert.equal(reusesRemovedId({ removed: ['B'] }, { removed: ['B', 'C'] }), undefined);
  });

  it('what waits for a restart: nothing for access nodes added, leaving or removed; library nodes, voters, changed entries and settings wait', () => {
    const base = parseHostTable(file, text(1, ['A', 'B', 'C']));
    const waits = (nodes: Record<string, unknown>[], extra: Record<string, unknown> = {}) => splitChange(tableChange(base, parseHostTable(file, stringify({ ...(parse(text(2)) as Record<string, unknown>), nodes, ...extra }))), base).waits;
    const [a, b, c] = [node('A', 0), node('B', 1), node('C', 2)];
    assert.deepEqual(waits([a, b, c, node('D', 3)]), []);
    assert.deepEqual(waits([a, b, c, node('L', 3, { role: 'library' })]), ['L added as a library node']);
    // Joining (issue 28): it backs up no home and votes on none, so it moves nothing that runs; becoming a full member waits.
    assert.deepEqual(waits([a, b, c, node('L', 3, { role: 'library', joining: true })]), []);
    const withL = parseHostTable(file, stringify({ ...(parse(text(2)) as Record<string, unknown>), nodes: [a, b, c, node('L', 3, { role: 'library', joining: true })] }));
    const full = parseHostTable(file, stringify({ ...(parse(text(3)) as Record<string, unknown>), nodes: [a, b, c, node('L', 3, { role: 'library' })] }));
    assert.deepEqual(splitChange(tableChange(withL, full), withL).waits, ["L's entry changed"]);
    assert.throws(() => parseHostTable(file, stringify({ ...(parse(text(2)) as Record<string, unknown>), nodes: [a, b, c, node('J', 3, { joining: true })] })), /only a library node joins/);
    assert.deepEqual(waits([a, b, c, node('V', 3, { voter: true })]), ['V added as a voter']);
    assert.deepEqual(waits([a, { ...b, leaving: true }, c]), []);
    assert.deepEqual(waits([a, c], { removed: ['B'] }), []);
    assert.deepEqual(waits([{ ...a, leaving: true }, b, c]), ['A, a library node, leaving']);
    assert.deepEqual(waits([b, c], { removed: ['A'] }), ['A, a library node, removed']);
    assert.deepEqual(waits([a, { ...b, leaving: true, host: '127.0.0.2' }, c]), ["B's entry changed"]);
    assert.deepEqual(waits([a, b, c], { link: { heartbeatMs: 500 } }), ['link changed']);
    assert.throws(() => parseHostTable(file, stringify({ ...(parse(text(2)) as Record<string, unknown>), removed: ['B'] })), /'B' was removed/);
    const change = tableChange(base, parseHostTable(file, stringify({ ...(parse(text(2)) as Record<string, unknown>), nodes: [a, { ...b, leaving: true }, node('D', 3)], removed: ['C'] })));
    assert.deepEqual([change.added.map((n) => n.id), change.leaving, change.removed, change.changed], [['D'], ['B'], ['C'], []]);
  });

  it('at start: the file, or the newer version accepted earlier; a signature missing or another text of the same version stops it', () => {
    const start = join(dir, 'start.yaml');
    const write = (t: string, sign = true) => {
      writeFileSync(start, t);
      if (sign) writeFileSync(signatureFile(start), signTable(t, keys.privateKey).signature);
      else rmSync(signatureFile(start), { force: true });
    };
    write(text(1), false);
    assert.throws(() => tableToRun(start, 'A'), /must be signed/);
    write(text(2));
    assert.equal(tableToRun(start, 'A').table.version, 2);
    write(text(1));
    const older = tableToRun(start, 'A');
    assert.equal(older.table.version, 2, 'the version accepted earlier');
    assert.match(older.notes[0], /holds version 1; running on version 2/);
    write(text(2, ['A', 'B', 'C']));
    assert.throws(() => tableToRun(start, 'A'), /another text/);
    write(text(3, ['B']));
    assert.throws(() => tableToRun(start, 'A'), /no node 'A'/);
    write(text(4, ['A', 'B'], { cluster: 'other' }));
    assert.throws(() => tableToRun(start, 'A'), /holds a table of cluster 'test'/);
    // The key gone while a signed version is held: no quiet fall back to the unsigned file.
    write(text(2), false);
    rmSync(join(dir, 'tls', 'operator.pub'));
    assert.throws(() => tableToRun(start, 'A'), /operator.pub.*missing, but .* holds a signed version/s);
  });
});
