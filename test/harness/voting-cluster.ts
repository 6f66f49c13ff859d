import { TestCluster } from './cluster.ts';
import { waitFor } from './wait.ts';

/** The lease of a voting cluster's homes: short, so a test's outage outlasts it. */
export const VOTING_LEASE_MS = 2000;

/**
 * Issue 27's cluster for terms and promotion: msu's voters are library nodes A (the home) and E
 * (its backup) and access node V (`voter: true`); J, an access node that does not vote, is the
 * client. Started with each node's extra environment (test hooks), links up.
 */
export async function votingCluster(env: Record<string, Record<string, string>> = {}): Promise<TestCluster> {
  const c = await TestCluster.create(
    [
      { id: 'A', role: 'library' },
      { id: 'E', role: 'library' },
      { id: 'V', role: 'access', voter: true },
      { id: 'J', role: 'access' },
    ],
    { homes: { leaseMs: VOTING_LEASE_MS }, critical: { waitMs: 1500, retries: 1, retryDelayMs: 100 }, link: { backoffMinMs: 100, backoffMaxMs: 500 } },
  );
  await Promise.all(c.ids.map((id) => c.start(id, env[id] ?? {})));
  await waitFor('links up', () => c.linksUp());
  return c;
}
