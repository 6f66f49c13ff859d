// Fault injection for the lease tests (issue 27): COHORT_TEST_CLOCK_OFFSET_MS=-5000 sets this
// process's wall clock (Date.now) that far off, as on a machine whose clock is wrong. Unset in
// production. Leases and votes measure durations on the monotonic clock only, so nothing of
// theirs may change: the test shows it.

/** Offsets Date.now by the environment's offset, once, when a test asked for it; says the offset applied. */
export function applyTestClockOffset(): number {
  const offset = Number(process.env.COHORT_TEST_CLOCK_OFFSET_MS ?? 0);
  if (!Number.isFinite(offset) || offset === 0) return 0;
  const real = Date.now.bind(Date);
  Date.now = () => real() + offset;
  return offset;
}
