// Fault injection for the delivery tests: COHORT_FAIL_COMMIT=0.1 makes each group commit
// fail at COMMIT with that probability (rolled back, as a full or failing disk would),
// from the moment the node is ready. Unset in production: one boolean test per batch.

const odds = Number(process.env.COHORT_FAIL_COMMIT ?? 0);
let armed = false;

/** Called once the node has started, so a test's faults never stop it from starting. */
export function armCommitFaults(): void {
  armed = odds > 0;
}

export function injectedCommitFault(): void {
  if (armed && Math.random() < odds) {
    process.stderr.write('commit fault: failing this batch (COHORT_FAIL_COMMIT)\n');
    throw new Error('injected commit failure (COHORT_FAIL_COMMIT)');
  }
}
