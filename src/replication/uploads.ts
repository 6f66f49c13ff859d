import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import type { HomeLookup } from '../records/home-lookup.ts';
import { plain, type ResourceHome } from './resource-home.ts';
import type { ResourceRef } from './resource-url.ts';

export interface UploadsDeps {
  self: string;
  home: ResourceHome;
  homes: HomeLookup;
  /** Checks a password at this node (auth.check): resolves, or rejects refused / rate_limited. */
  checkPassword: (domain: string, user: string, password: string) => Promise<void>;
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
    if (!creds) return plain(res, 401, 'an upload needs the author\'s name and password (Basic)', { 'www-authenticate': 'Basic realm="cohort resources", charset="UTF-8"' });
    if (creds.user !== ref.author) return plain(res, 403, `Access Denied: only ${ref.author} publishes under /res/${ref.domain}/${ref.author}/`);
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > deps.maxBytes) return plain(res, 413, `Content Too Large: at most ${deps.maxBytes} bytes`, { connection: 'close' });
    const home = await deps.homes.find(ref.domain, ref.author).catch((err: unknown) => {
      throw err instanceof CohortError && err.code === 'no_such_user' ? new CohortError('refused', 'bad user name or password') : err;
    });
    if (home !== deps.self) return plain(res, 421, `Misdirected Request: ${ref.author}@${ref.domain} publishes on her home node ${home}`);
    try {
      await deps.checkPassword(ref.domain, creds.user, creds.password);
    } catch (err) {
      if (err instanceof CohortError && err.code === 'refused') return plain(res, 401, 'bad user name or password', { 'www-authenticate': 'Basic realm="cohort resources", charset="UTF-8"' });
      if (err instanceof CohortError && err.code === 'rate_limited') return plain(res, 429, err.message, { 'retry-after': '60' });
      throw err;
    }
    const params = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const access = params.get('access');
    if (access !== null && access !== 'domain' && access !== 'cluster') return plain(res, 400, 'access is domain or cluster');
    const contentType = req.headers['content-type'];
    try {
      const out = await deps.home.publish(ref, req, { access: access ?? undefined, contentType });
      res.writeHead(201, { 'content-type': 'application/json', location: ref.url }).end(JSON.stringify(out));
    } catch (err) {
      // The body may be half read: the connection cannot carry another request.
      res.setHeader('connection', 'close');
      throw err;
    }
  }
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
