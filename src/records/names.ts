import { z } from 'zod';

// What a user, a namespace, a key and a value may be. Names end up in logs, paths and
// SQL parameters, so they are plain: no '/', no '..', no control characters, bounded.

export const MAX_KEY_BYTES = 256;
export const MAX_VALUE_BYTES = 64 * 1024;
export const MAX_KEYS_PER_CALL = 1000;

export const userName = z
  .string()
  .max(64, 'user names are at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, "user names are letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
  .refine((s) => !s.includes('..'), "user names may not contain '..'");

export const domainName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, 'not a domain name');

export const namespace = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, "namespaces are 1-64 letters, digits, '_', '.', ':' or '-'")
  .refine((s) => !s.includes('..'), "namespaces may not contain '..'");

export const recordKey = z
  .string()
  .min(1)
  .refine((k) => Buffer.byteLength(k) <= MAX_KEY_BYTES, `keys are at most ${MAX_KEY_BYTES} bytes`)
  .refine((k) => !/[\u0000-\u001f]/.test(k), 'keys may not contain control characters')
  // A lone surrogate has no UTF-8: each store would write it as U+FFFD, folding distinct keys into one.
  .refine((k) => k.isWellFormed(), 'keys must be well-formed Unicode (no lone surrogates)');

export const recordValue = z
  .unknown()
  .refine((v) => v !== undefined, 'a value is required')
  .refine((v) => Buffer.byteLength(JSON.stringify(v) ?? '') <= MAX_VALUE_BYTES, `values are at most ${MAX_VALUE_BYTES} bytes of JSON`);

export const password = z.string().min(1, 'a password is required').max(1024, 'passwords are at most 1024 characters');

/** A user is known by her domain and her name; the pair is unique in the cluster. */
export const userRef = { domain: domainName, user: userName };

const keyList = z.array(recordKey).min(1).max(MAX_KEYS_PER_CALL);
const keyValues = z
  .record(z.string(), recordValue)
  .refine((v) => Object.keys(v).length >= 1 && Object.keys(v).length <= MAX_KEYS_PER_CALL, `1 to ${MAX_KEYS_PER_CALL} keys per call`)
  .refine((v) => Object.keys(v).every((k) => recordKey.safeParse(k).success), `keys are 1-${MAX_KEY_BYTES} bytes without control characters`);
const inNamespace = z.strictObject({ ...userRef, ns: namespace });

/** The arguments of each record operation, the same at the caller's node and at the home. */
export const recordArgs = {
  put: inNamespace.extend({ values: keyValues }),
  get: inNamespace.extend({ keys: keyList }),
  del: inNamespace.extend({ keys: keyList }),
  keys: inNamespace,
  dump: z.strictObject({ ...userRef, ns: namespace.optional() }),
  store: inNamespace.extend({ data: recordValue }),
  restore: inNamespace.extend({ after: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(10_000).default(1000) }),
};

export type RecordOp = keyof typeof recordArgs;
/** Operations that change records travel as critical messages. */
export const RECORD_WRITES: readonly RecordOp[] = ['put', 'del', 'store'];
