import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lastErrors } from '../../src/cli/log-tail.ts';

describe("the last errors of a demo process's log", () => {
  it("shows pino's error lines by their message and stderr's own lines, not stack frames, control characters replaced; nothing for a clean log or none", () => {
    const dir = mkdtempSync(join(tmpdir(), 'cohort-log-tail-'));
    try {
      const log = join(dir, 'C.log');
      writeFileSync(log, [
        JSON.stringify({ level: 30, msg: 'node C ready' }),
        JSON.stringify({ level: 50, msg: 'part http failed', err: { message: 'listen EADDRINUSE: address already in use 127.0.0.1:8103' } }),
        'cohort: listen EADDRINUSE\x1b[31m',
        '    at Server.setupListenHandle (node:net:1940:16)',
        'Node.js v24.21.0',
        '',
      ].join('\n'));
      assert.equal(lastErrors(log), '; its last errors:\n  part http failed: listen EADDRINUSE: address already in use 127.0.0.1:8103\n  cohort: listen EADDRINUSE?[31m');
      writeFileSync(log, JSON.stringify({ level: 30, msg: 'fine' }) + '\n');
      assert.equal(lastErrors(log), '');
      assert.equal(lastErrors(join(dir, 'missing.log')), '');
      // A long log: only its end is read, the cut first line dropped.
      writeFileSync(log, 'x'.repeat(200_000) + '\n' + JSON.stringify({ level: 60, msg: 'fatal at the end' }) + '\n');
      assert.equal(lastErrors(log), '; its last errors:\n  fatal at the end');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
