import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { eachLine, MAX_LINE, printable } from '../../src/supervisor/app-process.ts';

// An app's output becomes the node's log lines: bounded, whole characters, no empty ghosts.
async function linesOf(chunks: (string | Buffer)[]): Promise<string[]> {
  const stream = new PassThrough();
  const lines: string[] = [];
  eachLine(stream, (l) => lines.push(l));
  for (const c of chunks) stream.write(c);
  stream.end();
  await once(stream, 'end');
  return lines;
}

test('lines, CRLF, a last line without newline', async () => {
  assert.deepEqual(await linesOf(['a\nb\r\nc', 'd\n', 'e\r']), ['a', 'b', 'cd', 'e']);
});

test('a line longer than MAX_LINE is cut into pieces; the node holds no more than that', async () => {
  const lines = await linesOf(['x'.repeat(MAX_LINE * 2 + 5), '\nnext\n']);
  assert.deepEqual(lines.map((l) => l.length), [MAX_LINE, MAX_LINE, 5, 4]);
});

test('exactly MAX_LINE, its newline in the next chunk: one line, not an empty one after it', async () => {
  assert.deepEqual((await linesOf(['y'.repeat(MAX_LINE), '\nz\n'])).map((l) => l.length), [MAX_LINE, 1]);
});

test('a character split across chunks, or at the cut, stays whole', async () => {
  const euro = Buffer.from('€');
  assert.deepEqual(await linesOf([euro.subarray(0, 1), euro.subarray(1), '\n']), ['€']);
  const lines = await linesOf(['a'.repeat(MAX_LINE - 1) + '😀' + '\n']);
  assert.equal(lines.length, 2);
  assert.equal(lines[1], '😀');
});

test('control characters do not reach a terminal', () => {
  assert.equal(printable('ok\u001b[2Jgone\u0007'), 'ok?[2Jgone?');
});
