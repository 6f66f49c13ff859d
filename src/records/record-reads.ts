import type { z } from 'zod';
import type { recordArgs } from './names.ts';
import type { RecordStore } from './record-store.ts';

/** The record operations that only read: what a home answers, and its backup while the home is down (issue 27). */
export const RECORD_READS = ['get', 'keys', 'dump', 'restore'] as const;
export type RecordRead = (typeof RECORD_READS)[number];

type Args<K extends RecordRead> = z.output<(typeof recordArgs)[K]>;
const reads: { [K in RecordRead]: (records: RecordStore, a: Args<K>) => unknown } = {
  get: (records, a) => ({ values: records.get(a.domain, a.user, a.ns, a.keys) }),
  keys: (records, a) => ({ keys: records.keys(a.domain, a.user, a.ns) }),
  dump: (records, a) => ({ records: records.dump(a.domain, a.user, a.ns) }),
  restore: (records, a) => ({ history: records.restore(a.domain, a.user, a.ns, a.after, a.limit) }),
};

/** A read's answer, from whichever copy of the records `records` is (arguments already checked). */
export function readRecords(records: RecordStore, op: RecordRead, a: unknown): unknown {
  return (reads[op] as (records: RecordStore, a: unknown) => unknown)(records, a);
}
