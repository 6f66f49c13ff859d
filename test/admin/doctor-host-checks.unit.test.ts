import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkCerts, checkDisk, checkLogs, type HostLimits } from '../../src/admin/host-checks.ts';
import { initClusterCerts } from '../../src/certs/cluster-certs.ts';
import { loadHostTable } from '../../src/config/host-table.ts';

const dir = mkdtempSync(join(tmpdir(), 'cohort-doctor-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'hosts.yaml'), 'cluster: t\ndataDir: ./data\ntls: { dir: ./tls }\ndomains: [msu]\nnodes:\n  - { id: A, domain: msu, role: library, host: 127.0.0.1, linkPort: 7101, httpPort: 8101 }\n');
const table = loadHostTable(join(dir, 'hosts.yaml'));
mkdirSync(join(dir, 'data', 'A'), { recursive: true });
writeFileSync(join(dir, 'data', 'A', 'x.db'), Buffer.alloc(3 * 1024 * 1024));
const limits = (over: Partial<HostLimits> = {}): HostLimits => ({ repair: true, progress: () => {}, minFreePct: 10, minFreeMb: 1, maxDataMb: 0, maxLogMb: 1, certDays: 30, logDirs: [], ...over });

test('disk: free space against both bounds (fail below half), data folder size against its bound', () => {
  const [disk, size] = checkDisk(table, 'A', limits());
  assert.equal(disk.status, 'ok');
  assert.match(disk.detail, /MB free \(\d+\.\d%\) under .*data\/A$/);
  assert.equal(size.status, 'ok');
  const pct = Number(/\((\d+\.\d)%\)/.exec(disk.detail)![1]);
  assert.equal(checkDisk(table, 'A', limits({ minFreePct: pct * 1.5 }))[0].status, 'warn');
  assert.equal(checkDisk(table, 'A', limits({ minFreePct: pct * 2.5 }))[0].status, 'fail');
  assert.deepEqual(checkDisk(table, 'A', limits({ maxDataMb: 2 }))[1].status, 'warn');
  assert.equal(checkDisk(table, 'B', limits())[0].status, 'fail');
});

test('logs: rotated (copy + truncate) only when every writer appends; otherwise reported', () => {
  assert.match(checkLogs(table, 'A', limits())[0].detail, /no log file found/);
  const log = join(dir, 'A.log');
  const appender = openSync(log, 'a');
  writeSync(appender, 'y'.repeat(2 * 1024 * 1024));
  assert.equal(checkLogs(table, 'A', limits({ repair: false }))[0].status, 'warn');
  const [rotated] = checkLogs(table, 'A', limits());
  assert.equal(rotated.status, 'repaired', rotated.detail);
  assert.equal(statSync(`${log}.1`).size, 2 * 1024 * 1024);
  writeSync(appender, 'after\n'); // an O_APPEND writer goes on at the new end, no hole
  assert.equal(readFileSync(log, 'utf8'), 'after\n');
  closeSync(appender);

  const overwriter = openSync(log, 'r+'); // writes at its own offset: a truncation would leave a hole
  writeSync(overwriter, 'z'.repeat(2 * 1024 * 1024));
  const [kept] = checkLogs(table, 'A', limits());
  closeSync(overwriter);
  if (existsSync('/proc/self/fdinfo')) {
    assert.equal(kept.status, 'warn');
    assert.match(kept.detail, /without O_APPEND, so it is not rotated/);
    assert.equal(statSync(log).size, 2 * 1024 * 1024);
  }
});

test('certificates: warn within certDays of expiry, fail once expired or missing', () => {
  assert.deepEqual(checkCerts(table, 'A', limits()).map((r) => r.status), ['fail', 'fail']);
  initClusterCerts(table.tlsDir, 'test', ['A']);
  assert.deepEqual(checkCerts(table, 'A', limits()).map((r) => r.status), ['ok', 'ok']);
  const nodeExpiry = Date.parse(new X509Certificate(readFileSync(join(table.tlsDir, 'A.crt'))).validTo);
  const soon = checkCerts(table, 'A', limits(), nodeExpiry - 10 * 86_400_000);
  assert.deepEqual(soon.map((r) => r.status), ['ok', 'warn']);
  assert.match(soon[1].detail, /A's certificate valid until \d{4}-\d\d-\d\d: (9|10) days left/);
  const expired = checkCerts(table, 'A', limits(), nodeExpiry + 86_400_000);
  assert.equal(expired[1].status, 'fail');
  assert.match(expired[1].detail, /expired/);
});
