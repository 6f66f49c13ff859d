import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorCodeOf, httpStatusOf } from '../src/error-status.ts';
import { ERROR_CODES } from '../src/errors.ts';

describe('error codes as HTTP statuses (one table, both directions)', () => {
  it('gives every code a status and a title', () => {
    for (const code of ERROR_CODES) assert.ok(httpStatusOf(code).status >= 400 && httpStatusOf(code).title, code);
    assert.deepEqual(httpStatusOf('not_found'), { status: 404, title: 'File not Found' });
    assert.equal(httpStatusOf('internal').status, 500);
  });

  it('answers each code with its status, pinned: a change here is a change every HTTP edge shows', () => {
    const statuses = Object.fromEntries(ERROR_CODES.map((code) => [code, httpStatusOf(code).status]));
    assert.deepEqual(statuses, {
      unknown_cmd: 500, no_such_host: 500, con_lost: 503, refused: 403, bad_args: 400, bad_frame: 500, internal: 500,
      not_found: 404, no_such_user: 404, conflict: 409, too_large: 413, rate_limited: 503, insufficient_storage: 507, moved: 503,
    });
  });

  it('reads back the codes a raw transfer carries; anything else is con_lost', () => {
    for (const code of ['bad_args', 'refused', 'not_found', 'conflict', 'too_large', 'insufficient_storage', 'con_lost'] as const) assert.equal(errorCodeOf(httpStatusOf(code).status), code);
    assert.equal(errorCodeOf(500), 'con_lost');
    assert.equal(errorCodeOf(502), 'con_lost');
    assert.equal(errorCodeOf(404), 'not_found');
  });
});
