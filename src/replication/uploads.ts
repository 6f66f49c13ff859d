import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import { plain } from '../net/plain-reply.ts';
import type { ResourceHome } from './resource-home.ts';
import type { ResourceRef } from './resource-url.ts';

export interface UploadsDeps {
  self: string;
  home: ResourceHome;
  /**
   * Checks a password at the user's home, as a login does (auth.login: an unknown name costs the
   * same check and fails the same way): resolves with her home node, or rejects refused / rate_limited.
   */
  checkPassword: (domain: string, user: string, password: string) => Promise<string>;
  maxBytes: number;
  log: Logger;
}

/**
 * PUT /res/<domain>/<author>/<path> on the author's home node: an author publishes a new
 * version over HTTP with her own password (Basic), checked at home before a byte is read.
 * Query: access=domain|cluster. Content-Type: the request's, else by the path's extension.
 * Basic sends the password as it is: put TLS in front of a node's HTTP port for uploads.
 */
export class Uploads {
  private readonly deps: UploadsDeps;

  constructor(deps: UploadsDeps) {
    this.deps = deps;
  }

  async handle(ref: ResourceRef, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { deps } = this;
    const creds = basicCredentials(req.headers.authorization);
    // The statuses below are HTTP's own for an author's PUT (401, 429, 421, 412); every other
    // error goes to the one table (error-status.ts) through the HTTP service.
    // Every failed author check is the same 401, as a failed login is: no answer tells an
    // unknown author from a wrong password or from another user's name.
    if (!creds || creds.user !== ref.author) return unauthorized(res);
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > deps.maxBytes) return plain(res, 413, `Content Too Large: at most ${deps.maxBytes} bytes`, { connection: 'close' });
    let home: string;
    try {
      home = await deps.checkPassword(ref.domain, creds.user, creds.password);
    } catch (err) {
      if (err instanceof CohortError && (err.code === 'refused' || err.code === 'no_such_user')) return unauthorized(res);
      if (err instanceof CohortError && err.code === 'rate_limited') return plain(res, 429, err.message, { 'retry-after': '60' });
      throw err;
    }
    // Told only to the author herself, with her password.
    if (home !== deps.self) return plain(res, 421, `Misdirected Request: ${ref.author}@${ref.domain} publishes on her home node ${home}`);
    const params = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const access = params.get('access');
    if (access !== null && access !== 'domain' && access !== 'cluster') return plain(res, 400, 'access is domain or cluster');
    const contentType = req.headers['content-type'];
    const ifMatch = entityTags(req.headers['if-match'], 'strong');
    const ifNoneMatch = entityTags(req.headers['if-none-match'], 'weak');
    if (ifMatch === null || ifNoneMatch === null) return plain(res, 400, 'If-Match and If-None-Match are * or a list of entity tags ("...")', { connection: 'close' });
    try {
      const out = await deps.home.publish(ref, req, { access: access ?? undefined, contentType, ifMatch, ifNoneMatch, length: length === undefined ? undefined : Number(length) });
      res.writeHead(201, { 'content-type': 'application/json', location: ref.url, etag: `"${out.digest}"` }).end(JSON.stringify(out));
    } catch (err) {
      // The body may be half read: the connection cannot carry another request.
      res.setHeader('connection', 'close');
      // A precondition of the request's own failed (RFC 9110 §13.1): 412, nothing stored.
      if (err instanceof CohortError && err.code === 'conflict') return plain(res, 412, `Precondition Failed: ${err.message}`);
      throw err;
    }
  }
}

/** An entity tag's opaque characters (RFC 9110 §8.8.3 etagc). */
const ETAGC = /^[\x21\x23-\x7e\x80-\xff]*$/;

/**
 * An If-Match or If-None-Match field: undefined when absent, '*', or the digests it names (our
 * ETags are `"<sha256>"`), null when malformed. A list (§5.6.1) of optionally weak, quoted
 * tags (commas allowed inside the quotes, §8.8.3), empty elements allowed. If-Match compares
 * strongly, so a weak tag there matches nothing (§13.1.1); If-None-Match compares weakly
 * (§13.1.2). One pass over the field: runs of spaces cost their length, once.
 */
export function entityTags(field: string | undefined, comparison: 'strong' | 'weak'): '*' | string[] | undefined | null {
  if (field === undefined) return undefined;
  if (field.trim() === '*') return '*';
  const tags: string[] = [];
  const n = field.length;
  let i = 0;
  const skipSpaces = () => {
    while (i < n && (field[i] === ' ' || field[i] === '\t')) i++;
  };
  while (i < n) {
    skipSpaces();
    if (i < n && field[i] !== ',') {
      const weak = field.startsWith('W/', i);
      if (weak) i += 2;
      if (field[i] !== '"') return null;
      const close = field.indexOf('"', i + 1);
      if (close < 0) return null;
      const opaque = field.slice(i + 1, close);
      if (!ETAGC.test(opaque)) return null;
      i = close + 1;
      if (!(weak && comparison === 'strong')) tags.push(opaque);
      if (tags.length > 64) return null;
      skipSpaces();
      if (i < n && field[i] !== ',') return null;
    }
    i++; // the comma
  }
  return tags;
}

function unauthorized(res: ServerResponse): void {
  plain(res, 401, 'Unauthorized: bad user name or password', { 'www-authenticate': 'Basic realm="cohort resources", charset="UTF-8"' });
}

/** user and password of a Basic Authorization header, or undefined. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]{1,2000})$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
