import { z } from 'zod';
import { domainName, userName } from '../records/names.ts';

// The resource space (seed 000): /res/<domain>/<author>/<path>. A resource's URL names its
// author, so any node can find her home. Paths come from HTTP clients and end up in SQL and
// logs (never in file names: copies are kept by digest), so they are checked here, once.

export const MAX_URL_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;
const MAX_DEPTH = 32;

export interface ResourceRef {
  /** Canonical: decoded segments joined by '/', starting '/res/'. The key everywhere. */
  url: string;
  domain: string;
  author: string;
  /** The part after the author, e.g. 'physics/lesson1.html'. */
  path: string;
}

export class ResourceUrlError extends Error {}

/**
 * A resource from an HTTP request path (percent-encoded, no query). Refuses what could climb
 * out of the author's space or confuse a reader: '.', '..' and empty segments (also encoded as
 * %2e%2e), an encoded '/', backslashes, NUL and other control characters, bad UTF-8, over-long
 * paths and segments.
 */
export function parseResourcePath(rawPath: string): ResourceRef {
  if (!rawPath.startsWith('/res/')) throw new ResourceUrlError('resource paths start with /res/');
  if (rawPath.length > MAX_URL_BYTES * 3) throw new ResourceUrlError(`a resource path is at most ${MAX_URL_BYTES} bytes`);
  const segments = rawPath.slice('/res/'.length).split('/').map((raw) => {
    try {
      return decodeURIComponent(raw);
    } catch {
      throw new ResourceUrlError('a path segment is not valid percent-encoded UTF-8');
    }
  });
  return checkSegments(segments);
}

/** A resource from its canonical URL (as commands carry it); the same checks. */
export function parseResourceUrl(url: string): ResourceRef {
  if (!url.startsWith('/res/')) throw new ResourceUrlError('resource URLs start with /res/');
  const ref = checkSegments(url.slice('/res/'.length).split('/'));
  if (ref.url !== url) throw new ResourceUrlError('not a canonical resource URL');
  return ref;
}

function checkSegments(segments: string[]): ResourceRef {
  if (segments.length < 3) throw new ResourceUrlError('a resource path is /res/<domain>/<author>/<path>');
  if (segments.length > MAX_DEPTH + 2) throw new ResourceUrlError(`a resource path is at most ${MAX_DEPTH} folders deep`);
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') throw new ResourceUrlError("empty, '.' and '..' segments are not allowed");
    if (/[\u0000-\u001f\u007f/\\]/.test(s)) throw new ResourceUrlError('control characters, encoded slashes and backslashes are not allowed');
    if (Buffer.byteLength(s) > MAX_SEGMENT_BYTES) throw new ResourceUrlError(`a path segment is at most ${MAX_SEGMENT_BYTES} bytes`);
  }
  const [domain, author, ...rest] = segments;
  if (!domainName.safeParse(domain).success) throw new ResourceUrlError(`'${domain}' is not a domain name`);
  if (!userName.safeParse(author).success) throw new ResourceUrlError(`'${author}' is not a user name`);
  const url = `/res/${segments.join('/')}`;
  if (Buffer.byteLength(url) > MAX_URL_BYTES) throw new ResourceUrlError(`a resource path is at most ${MAX_URL_BYTES} bytes`);
  return { url, domain, author, path: rest.join('/') };
}

/** The URL with each segment percent-encoded again, for a request line. */
export function encodeResourceUrl(url: string): string {
  return url.split('/').map(encodeURIComponent).join('/');
}

/** For command arguments: a canonical resource URL. */
export const resourceUrl = z.string().max(MAX_URL_BYTES).superRefine((s, ctx) => {
  try {
    parseResourceUrl(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

export const version = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
