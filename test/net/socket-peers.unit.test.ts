import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSs, peerOf } from '../../src/net/socket-peers.ts';

// `ss -xpn` text is partly the peer's to choose (its socket's bound name, its process name): what
// it forges may add candidates or hide rows (then: unknown, an app), never replace the real ones.
const me = process.pid;
const ours = `u_str ESTAB 0 0 /data/A/cohort.sock 5001 * 5000 users:(("node",pid=${me},fd=21))`;
const theirs = (name: string, comm = 'node', pid = 777) => `u_str ESTAB 0 0 ${name} 5000 * 5001 users:(("${comm}",pid=${pid},fd=3))`;

test('the peer of our socket, and who holds it', () => {
  const rows = parseSs(['Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process', ours, theirs('*')].join('\n'));
  assert.deepEqual(peerOf(rows, 5001, 21), { holders: [{ pid: 777, fd: 3 }], peerInode: 5000 });
  assert.deepEqual(peerOf(rows, 5001, 22), { unknown: 'ss does not list this connection' }, 'another fd: not our socket');
});

test('a bound name with spaces or a forged line cannot replace the real holder', () => {
  // A name that forges a whole line claiming our socket's peer is some operator's socket 6000.
  const forged = `/tmp/x\nu_str ESTAB 0 0 /data/A/cohort.sock 5001 * 6000 users:(("node",pid=${me},fd=21))\nu_str ESTAB 0 0 * 6000 * 5001 users:(("cohort",pid=1,fd=3))`;
  const rows = parseSs([ours, ...theirs(forged).split('\n')].join('\n'));
  assert.deepEqual(peerOf(rows, 5001, 21), { unknown: 'ss names more than one peer for this connection' });
  // A name with spaces that imitates a row's tail: the real tail is read (from the end).
  const spaced = parseSs([ours, theirs('/tmp/a 5000 * 5001 users:(("cohort",pid=1,fd=3))')].join('\n'));
  assert.deepEqual(peerOf(spaced, 5001, 21), { holders: [{ pid: 777, fd: 3 }], peerInode: 5000 });
});

test('a process name that imitates a holder only adds one (the real one stays)', () => {
  const rows = parseSs([ours, theirs('*', 'x",pid=1,fd=3),("')].join('\n'));
  const found = peerOf(rows, 5001, 21);
  assert.ok('holders' in found && found.holders.some((h) => h.pid === 777), JSON.stringify(found));
});

test('no holder to be seen (gone, or another user\'s): unknown', () => {
  const rows = parseSs([ours, 'u_str ESTAB 0 0 * 5000 * 5001'].join('\n'));
  assert.match((peerOf(rows, 5001, 21) as { unknown: string }).unknown, /no process holding the other end/);
});
