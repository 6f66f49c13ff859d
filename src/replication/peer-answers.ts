import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CohortError } from '../errors.ts';
import { DIGEST } from './blob-store.ts';
import type { VersionMeta } from './published-store.ts';
import { resourceUrl, version } from './resource-url.ts';

/**
 * What other nodes answer about resources, parsed where it arrives and checked against what was
 * asked: a node of the cluster may be compromised, and one that claims an author must not be
 * able to name (and so overwrite) another author's resource, or another version than asked.
 */

export const access = z.enum(['cluster', 'domain']);

/** One version of a resource as a home node tells it (res.update's arguments, res.subscribe's answer). */
export const versionMeta = z.strictObject({
  url: resourceUrl,
  version,
  digest: z.string().regex(DIGEST),
  size: z.number().int().min(0),
  contentType: z.string().min(1).max(256),
  publishedAt: z.number().int().min(0),
  access,
});

/** res.subscribe's answer: the version asked for (the newest when none was), and the newest there is. */
const subscribeAnswer = versionMeta.extend({ newest: version });

/** A relayed publish's answer (the home's 201): the version made; other fields are passed on as they came. */
const publishAnswer = z.looseObject({ ...versionMeta.shape, notified: z.array(z.strictObject({ node: z.string().max(256), status: z.string().max(2000) })).max(100_000) });

/** The raw-transfer headers a home sends with a version's bytes (resource-home.ts serveRaw). */
const rawHeaders = z.object({ 'content-length': z.string().regex(/^\d{1,16}$/), 'x-cohort-digest': z.string().regex(DIGEST) });

/** A node's answer that did not parse or was not what was asked: logged, and nothing of it kept. */
function refuse(log: Logger, cmd: string, from: string, url: string, why: string): CohortError {
  log.warn({ event: 'resource_answer_refused', cmd, from, url, why: why.slice(0, 500) }, `${from}'s answer to ${cmd} for ${url} refused: ${why.slice(0, 500)}`);
  return new CohortError('con_lost', `the answer of ${from} for ${url} was refused: ${why.slice(0, 300)}`);
}

function issues(err: z.ZodError): string {
  return err.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`).join('; ');
}

/** res.subscribe's answer from `home` for `url` (and `asked`, the version asked for, if one was). */
export function subscribeAnswerFor(answer: unknown, ask: { home: string; url: string; version: number | undefined; log: Logger }): VersionMeta & { newest: number } {
  const parsed = subscribeAnswer.safeParse(answer);
  if (!parsed.success) throw refuse(ask.log, 'res.subscribe', ask.home, ask.url, `malformed: ${issues(parsed.error)}`);
  const meta = parsed.data;
  if (meta.url !== ask.url) throw refuse(ask.log, 'res.subscribe', ask.home, ask.url, `it names another resource, ${meta.url}`);
  if (ask.version !== undefined && meta.version !== ask.version) throw refuse(ask.log, 'res.subscribe', ask.home, ask.url, `version ${ask.version} was asked for, it names version ${meta.version}`);
  if (meta.newest < meta.version) throw refuse(ask.log, 'res.subscribe', ask.home, ask.url, `its newest version ${meta.newest} is older than version ${meta.version}`);
  return meta;
}

/** The headers of a raw transfer of `meta` from `home`: the size and digest must be the announced ones. */
export function checkRawHeaders(headers: IncomingHttpHeaders, meta: VersionMeta, home: string, log: Logger): void {
  const parsed = rawHeaders.safeParse(headers);
  if (!parsed.success) throw refuse(log, 'raw GET', home, meta.url, `malformed headers: ${issues(parsed.error)}`);
  const { 'content-length': length, 'x-cohort-digest': digest } = parsed.data;
  if (Number(length) !== meta.size || digest !== meta.digest) {
    throw refuse(log, 'raw GET', home, meta.url, `it sends ${length} bytes of ${digest}, ${meta.size} bytes of ${meta.digest} were announced`);
  }
}

/** A relayed publish's answer from `home` for `url`. */
export function publishAnswerFor(text: string, ask: { home: string; url: string; log: Logger }): z.output<typeof publishAnswer> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw refuse(ask.log, 'raw PUT', ask.home, ask.url, 'not JSON');
  }
  const parsed = publishAnswer.safeParse(json);
  if (!parsed.success) throw refuse(ask.log, 'raw PUT', ask.home, ask.url, `malformed: ${issues(parsed.error)}`);
  if (parsed.data.url !== ask.url) throw refuse(ask.log, 'raw PUT', ask.home, ask.url, `it names another resource, ${parsed.data.url}`);
  return parsed.data;
}

/** A stored notice's metadata (written by this node from a parsed res.update): parsed again as it is read. */
export function storedMeta(json: string): VersionMeta {
  return versionMeta.parse(JSON.parse(json));
}
