import type { z } from 'zod';
import type { recordArgs } from './names.ts';
import { mapMaybe, type HomeRecords, type Maybe } from './stores/home-store.ts';

/** The record operations that only read: what a home answers, and its backup while the home is down (issue 27). */
export const RECORD_READS = ['get', 'keys', 'dump', 'restore'] as const;
export type RecordRead = (typeof RECORD_READS)[number];

type Args<K extends RecordRead> = z.output<(typeof recordArgs)[K]>;
const reads: { [K in RecordRead]: (records: HomeRecords, a: Args<K>) => Maybe<unknown> } = {
  get: (records, a) => mapMaybe(records.get(a.domain, a.user, a.ns, a.keys), (values) => ({ values })),
  keys: (records, a) => mapMaybe(records.keys(a.domain, a.user, a.ns), (keys) => ({ keys })),
  dump: (records, a) => mapMaybe(records.dump(a.domain, a.user, a.ns), (dumped) => ({ records: dumped })),
  restore: (records, a) => mapMaybe(records.restore(a.domain, a.user, a.ns, a.after, a.limit), (history) => ({ history })),
};

/** A read's answer, from whichever copy or store of the records `records` is (arguments already checked). */
export function readRecords(records: HomeRecords, op: RecordRead, a: unknown): Maybe<unknown> {
  return (reads[op] as (records: HomeRecords, a: unknown) => Maybe<unknown>)(records, a);
}
