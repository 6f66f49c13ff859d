import { TestCluster } from './cluster.ts';
import { waitFor } from './wait.ts';

/**
 * Two nodes, A sending critical messages to B, whose process runs with `faults` in its
 * environment (COHORT_FAIL_COMMIT, COHORT_FAIL_JOB: src/store/commit-faults.ts). Short waits and
 * retries, so a failed message is retried within the test's time. Resolves once the link is up.
 */
export async function faultyPair(faults: Record<string, string>): Promise<TestCluster> {
  const cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }], {
    critical: { waitMs: 500, retries: 2, retryDelayMs: 50 },
  });
  await cluster.start('A');
  await cluster.start('B', faults);
  await waitFor('links up', () => cluster.linksUp());
  return cluster;
}
