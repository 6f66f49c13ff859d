import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CohortError } from '../../../src/errors.ts';
import { asCohortError } from '../../../src/records/stores/postgres-errors.ts';

// What a sender does with a failed critical write follows from this: con_lost is sent again (its
// id settles whether it was applied), internal is given up. A server that is down, failing over or
// timing out must never make a write be given up.
describe('PostgreSQL errors as the network\'s', () => {
  const pgError = (code: string, message = 'm') => Object.assign(new Error(message), { code, severity: 'ERROR' });
  const code = (err: unknown) => (err as CohortError).code;

  it('is con_lost for a server down, failing over, timing out or refusing the login', () => {
    // 42501 and 42P01: a grant revoked, or the tables dropped under a running node (made again): the server's state, not the statement.
    for (const c of ['42501', '42P01', '3F000', '08006', '57P01', '25006', '57014', '55P03', '25P03', '28P01', '3D000', '40001', '40P01', '40003', '53300', 'XX000']) assert.equal(code(asCohortError(pgError(c))), 'con_lost', c);
    for (const c of ['ECONNRESET', 'ECONNREFUSED', 'EAI_AGAIN', 'ETIMEDOUT']) assert.equal(code(asCohortError(Object.assign(new Error('x'), { code: c }))), 'con_lost', c);
    for (const m of ['Connection terminated unexpectedly', 'Client has encountered a connection error and is not queryable', 'timeout exceeded when trying to connect', 'Query read timeout', 'Cannot use a pool after calling end on the pool']) assert.equal(code(asCohortError(new Error(m))), 'con_lost', m);
    assert.equal(code(asCohortError(pgError('23505'), true)), 'con_lost', 'whatever it says, once the connection broke');
  });

  it('is internal for a fault of the statement itself', () => {
    for (const c of ['21000', '22P02', '23505', '42601', '42703', 'P0001']) assert.equal(code(asCohortError(pgError(c))), 'internal', c);
  });

  it("leaves the command's own errors as they are", () => {
    const own = new CohortError('no_such_user', 'ann does not live here');
    assert.equal(asCohortError(own), own);
    const plain = new Error('refused for good');
    assert.equal(asCohortError(plain), plain);
  });
});
