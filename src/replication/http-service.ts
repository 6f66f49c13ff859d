import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import send from 'send';
import { CohortError } from '../errors.ts';
import { httpStatusOf } from '../error-status.ts';
import { redactHandover } from '../sessions/handovers.ts';
import type { BlobCache } from './blob-cache.ts';
import { inPlace, type Replicator } from './replicator.ts';
import { plain } from '../net/plain-reply.ts';
import { parseResourcePath, ResourceUrlError } from './resource-url.ts';
import type { Uploads } from './uploads.ts';

export interface ResourceHttpDeps {
  replicator: Replicator;
  /** Small resources' bytes in memory (blob-cache.ts). */
  cache: BlobCache;
  uploads: Uploads;
  log: Logger;
}

/**
 * The resource space on the node's HTTP port (mounted at /res/ there, node/http-port.ts):
 * /res/<domain>/<author>/<path>[?version=N], served from this node (its own resources, or
 * copies, replicated on first access) with Content-Type, ETag (the content's digest),
 * Last-Modified, conditional GET, Range and HEAD (the `send` module, express.static's engine);
 * a plain GET or HEAD of a small one from memory (blob-cache.ts), or of a copy being made from
 * its checked bytes; PUT publishes (uploads.ts).
 */
export class ResourceHttp {
  private readonly deps: ResourceHttpDeps;

  constructor(deps: ResourceHttpDeps) {
    this.deps = deps;
  }

  /** One request under /res/ (`path` without its query): answered here, errors included. */
  readonly handle = (req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> =>
    this.serve(req, res, path, query).catch((err: unknown) => this.fail(res, err, req.url ?? ''));

  private async serve(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'PUT') return plain(res, 405, 'Method Not Allowed', { allow: 'GET, HEAD, PUT' });
    let ref;
    let version: number | undefined;
    try {
      ref = parseResourcePath(path);
      version = parseVersion(new URLSearchParams(query));
    } catch (err) {
      if (err instanceof ResourceUrlError) return plain(res, 400, `Bad Request: ${err.message}`);
      throw err;
    }
    if (req.method === 'PUT') return this.deps.uploads.handle(ref, req, res);
    const local = await this.deps.replicator.local(ref, version);
    const { meta } = local;
    res.setHeader('content-type', meta.contentType);
    res.setHeader('etag', `"${meta.digest}"`);
    res.setHeader('last-modified', new Date(meta.publishedAt).toUTCString());
    res.setHeader('x-cohort-version', String(meta.version));
    res.setHeader('x-cohort-source', local.source);
    // Authors' pages are any user's content: served as their own unique origin (a sandbox, as
    // GitHub serves raw user content from another domain), their scripts cannot act as the
    // reader on the app they are proxied beside; no type sniffing into HTML either.
    res.setHeader('content-security-policy', 'sandbox allow-scripts allow-forms allow-popups allow-downloads');
    res.setHeader('x-content-type-options', 'nosniff');
    // A version named in the URL never changes; the newest may.
    res.setHeader('cache-control', version === undefined ? 'no-cache' : 'public, max-age=31536000, immutable');
    // What memory holds (or may hold) is answered from it, a HEAD from the metadata alone.
    if (isPlain(req) && (local.bytes || this.deps.cache.holds(meta.size))) {
      const bytes = req.method === 'HEAD' ? undefined : (local.bytes ?? (await this.deps.cache.read(meta, local.path)));
      if (req.method === 'HEAD' || bytes) {
        res.setHeader('accept-ranges', 'bytes');
        res.setHeader('content-length', meta.size);
        return void res.end(bytes);
      }
    }
    // The file serves the rest: a copy being made once it is in place.
    const { path: file } = await inPlace(local);
    send(req, file, { etag: false, lastModified: false, cacheControl: false, dotfiles: 'allow' })
      .on('error', (err: Error) => this.fail(res, err, ref.url))
      .pipe(res);
  }

  private fail(res: ServerResponse, err: unknown, url: string): void {
    const code = err instanceof CohortError ? err.code : 'internal';
    const { status, title } = httpStatusOf(code);
    const message = err instanceof Error ? err.message : String(err);
    // A login hand-over token in a log is a login: redacted, like the front's.
    const logged = redactHandover(url).slice(0, 300);
    if (status >= 500) this.deps.log[status === 500 ? 'error' : 'warn']({ event: 'resource_error', url: logged, code, err: message }, `${logged}: ${message}`);
    // What went wrong inside (file paths, a peer's error text) is for the log: a client is told
    // what it can act on. An unknown author and a missing resource read alike (resource-lookups.ts).
    // A 507's reason (free bytes, the budget) is the operator's: logged above, not told to clients.
    const body = status === 500 ? title : status === 503 ? `${title}: try again shortly` : status === 507 ? `${title}: this node cannot store it now` : `${title}: ${message}`;
    plain(res, status, body, status === 503 ? { 'retry-after': '2' } : {});
  }
}

function parseVersion(params: URLSearchParams): number | undefined {
  const v = params.getAll('version');
  if (v.length === 0) return undefined;
  if (v.length > 1 || !/^[1-9][0-9]{0,14}$/.test(v[0])) throw new ResourceUrlError('version is one positive whole number');
  return Number(v[0]);
}

/** A GET or HEAD of the whole resource, unconditionally: what memory can answer (the rest goes to `send`). */
function isPlain(req: IncomingMessage): boolean {
  const h = req.headers;
  return (req.method === 'GET' || req.method === 'HEAD') && h.range === undefined && h['if-none-match'] === undefined && h['if-modified-since'] === undefined && h['if-match'] === undefined && h['if-unmodified-since'] === undefined;
}
