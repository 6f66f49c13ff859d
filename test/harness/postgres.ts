import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import pg from 'pg';

/**
 * The machine's PostgreSQL (`.ci/run` makes sure one runs), as its own user, or COHORT_TEST_PG_URL.
 * node-postgres takes the user from $USER, unset in some shells, so it is named here.
 */
export const TEST_PG_URL = process.env.COHORT_TEST_PG_URL ?? `postgresql://${encodeURIComponent(process.env.PGUSER ?? userInfo().username)}@127.0.0.1:5432/test`;

/** A schema of its own for one test (several test files share the database), and its removal. */
export function testSchema(): { schema: string; drop: () => Promise<void> } {
  const schema = `cohort_test_${randomBytes(6).toString('hex')}`;
  return {
    schema,
    drop: async () => {
      const client = new pg.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
