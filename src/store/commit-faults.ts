// Fault injection for the delivery tests, from the moment the node is ready. Unset in
// production: one boolean test per batch or job.
//   COHORT_FAIL_COMMIT=P  each group commit fails at COMMIT with odds P (rolled back, as a
//                         full or failing disk would).
//   COHORT_FAIL_JOB=P     each critical message's job fails with odds P after its writes,
//                         with an error shaped as node:sqlite's own (SQLITE_FULL, _IOERR or
//                         _BUSY), as a statement on a full or failing disk would.
//   COHORT_FAULT_LIMIT=N  at most N faults of either kind in all, then none.

const commitOdds = Number(process.env.COHORT_FAIL_COMMIT ?? 0);
const jobOdds = Number(process.env.COHORT_FAIL_JOB ?? 0);
let budget = Number(process.env.COHORT_FAULT_LIMIT ?? Infinity);
let armed = false;

/** Called once the node has started, so a test's faults never stop it from starting. */
export function armCommitFaults(): void {
  armed = commitOdds > 0 || jobOdds > 0;
}

function strike(odds: number): boolean {
  if (!armed || budget <= 0 || !(Math.random() < odds)) return false;
  budget--;
  return true;
}

export function injectedCommitFault(): void {
  if (strike(commitOdds)) {
    process.stderr.write('commit fault: failing this batch (COHORT_FAIL_COMMIT)\n');
    throw new Error('injected commit failure (COHORT_FAIL_COMMIT)');
  }
}

// node:sqlite throws a plain Error with these fields (checked on Node 24: SQLITE_FULL from a
// capped page count, SQLITE_BUSY from a second writer); errcode is the extended result code.
const storageErrors = [
  { errcode: 13, errstr: 'database or disk is full' },
  { errcode: 10 | (4 << 8), errstr: 'disk I/O error' }, // SQLITE_IOERR_FSYNC
  { errcode: 5, errstr: 'database is locked' },
];

/** Inside a critical message's job, after its writes: throws as a failing statement would. */
export function injectedJobFault(): void {
  if (strike(jobOdds)) {
    const { errcode, errstr } = storageErrors[Math.floor(Math.random() * storageErrors.length)];
    process.stderr.write(`job fault: ${errstr} (COHORT_FAIL_JOB)\n`);
    throw Object.assign(new Error(`${errstr} (injected, COHORT_FAIL_JOB)`), { code: 'ERR_SQLITE_ERROR', errcode, errstr });
  }
}
