import { randomBytes } from 'node:crypto';
import { hasInvalidHeaderChar, isToken } from '../http/llhttp.ts';
import { AUTHORITY, sameAuthority } from '../http/request-checks.ts';

/** An HTTP/2 request as the HTTP/1.1 request path takes it. */
export interface TranslatedRequest {
  method: string;
  /** The origin-form target (:path). */
  url: string;
  /** HTTP/1.1 fields: Host first (from :authority), cookies merged, framing and upgrade fields the front adds. */
  rawHeaders: string[];
  lowerNames: string[];
  hasBody: boolean;
  /** The declared length of the body, or -1 (HTTP/2 data frames are checked against it). */
  contentLength: number;
  /** RFC 8441's extended CONNECT for a WebSocket: the back-end gets an HTTP/1.1 upgrade. */
  websocket: boolean;
}

export interface MalformedRequest {
  /** Why the request is refused, never forwarded: malformed (RFC 9113 §8.1.1: its stream is reset), or too large. */
  malformed: string;
  /** 431 when the head is over the front's limit (answered, as over HTTP/1.1); undefined: the stream is reset. */
  status?: 431;
}

/** Fields that mean something only on an HTTP/1.1 connection (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** A field value may not begin or end with white space (RFC 9113 §8.2.1); its characters are checked as HTTP/1.1's are. */
const EDGE_SPACE = /^[ \t]|[ \t]$/;
/** A target of visible ASCII only: no space, control or byte past 0x7e (what would split or bend an HTTP/1.1 request line). */
const BAD_TARGET = /[^\x21-\x7e]/;
const UPPER = /[A-Z]/;

/**
 * Checks an HTTP/2 request head and translates it into the HTTP/1.1 fields the front forwards.
 * The translation is where an HTTP/2-to-HTTP/1.1 proxy is desynced (pseudo-headers with CR/LF
 * or spaces that become a second request line, connection fields, a length that differs from
 * the data): everything that could bend the HTTP/1.1 request is refused here, whatever nghttp2
 * already refused. Repeated `cookie` fields are merged with "; " (RFC 9113 §8.2.3) so the sticky
 * cookie is read from all of them.
 */
export function translateRequest(raw: readonly string[], endStream: boolean, maxHeaderBytes: number): TranslatedRequest | MalformedRequest {
  // nghttp2 does not hold a client to the SETTINGS_MAX_HEADER_LIST_SIZE it was sent: the front does (RFC 9113 §10.5.1's size).
  let size = 0;
  for (let i = 0; i < raw.length; i += 2) size += raw[i].length + raw[i + 1].length + 32;
  if (size > maxHeaderBytes) return { malformed: `a header list of ${size} bytes (limit ${maxHeaderBytes})`, status: 431 };
  // Pseudo-headers in locals, not a map: this runs once per request.
  let method: string | undefined;
  let scheme: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let protocol: string | undefined;
  // Host first (from :authority or host, set below), cookies merged after it.
  const rawHeaders = ['host', ''];
  const lowerNames = ['host'];
  let cookie: string | undefined;
  let length: string | undefined;
  let host: string | undefined;
  let regular = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (UPPER.test(name)) return malformed(`upper case in the field name ${show(name)}`);
    if (EDGE_SPACE.test(value) || hasInvalidHeaderChar(value)) return malformed(`a control character or edge white space in ${show(name)}`);
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (regular) return malformed('a pseudo-header after a regular field');
      switch (name) {
        case ':method': if (method !== undefined) return malformed(`${name} twice`); method = value; break;
        case ':path': if (path !== undefined) return malformed(`${name} twice`); path = value; break;
        case ':scheme': if (scheme !== undefined) return malformed(`${name} twice`); scheme = value; break;
        case ':authority': if (authority !== undefined) return malformed(`${name} twice`); authority = value; break;
        case ':protocol': if (protocol !== undefined) return malformed(`${name} twice`); protocol = value; break;
        default: return malformed(`unknown pseudo-header ${show(name)}`);
      }
      continue;
    }
    regular = true;
    if (!isToken(name)) return malformed(`the field name ${show(name)} is not a token`);
    if (CONNECTION_SPECIFIC.has(name)) return malformed(`the connection-specific field ${name}`);
    if (name === 'te' && value !== 'trailers') return malformed('te other than "trailers"');
    if (name === 'cookie') {
      cookie = cookie === undefined ? value : `${cookie}; ${value}`;
      continue;
    }
    if (name === 'host') {
      if (host !== undefined) return malformed('more than one host field');
      host = value;
      continue;
    }
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value)) return malformed('content-length is not a number');
      const normal = value.replace(/^0+(?=\d)/, '');
      if (length !== undefined && length !== normal) return malformed('differing content-length values');
      if (length !== undefined) continue; // the same value again: one is enough
      length = normal;
    }
    rawHeaders.push(name, value);
    lowerNames.push(name);
  }

  if (method === undefined || !isToken(method)) return malformed(':method is missing or not a token');
  const websocket = method === 'CONNECT' && protocol !== undefined;
  if (protocol !== undefined && (!websocket || protocol !== 'websocket')) return malformed(protocol === 'websocket' ? ':protocol without CONNECT' : `the protocol ${show(protocol)} is not supported`);
  if (method === 'CONNECT' && !websocket) return malformed('CONNECT is not supported: the front is not a forward proxy');
  if (scheme !== 'https' && scheme !== 'http') return malformed(':scheme is missing or not http(s)');
  if (path === undefined || path === '') return malformed(':path is missing');
  if (BAD_TARGET.test(path)) return malformed(':path holds a space, control or non-ASCII byte');
  if (path.charCodeAt(0) !== 47 /* '/' */ && !(path === '*' && method === 'OPTIONS')) return malformed(':path is not origin-form');
  if (authority !== undefined && (authority === '' || !AUTHORITY.test(authority))) return malformed(':authority is not a valid host[:port]');
  // Host and :authority must name the same origin (RFC 9113 §8.3.1): a differing Host would route one way and be read another.
  if (authority !== undefined && host !== undefined && !sameAuthority(authority, host, scheme)) return malformed('host differs from :authority');
  const hostField = authority ?? host;
  if (hostField === undefined) return malformed('neither :authority nor host');
  rawHeaders[1] = hostField;
  if (cookie !== undefined) {
    rawHeaders.splice(2, 0, 'cookie', cookie);
    lowerNames.splice(1, 0, 'cookie');
  }

  const contentLength = length === undefined ? -1 : Number(length);
  if (endStream && contentLength > 0) return malformed('content-length without data');
  const hasBody = !endStream && contentLength !== 0 && !websocket;
  // A body of unknown length goes on as HTTP/1.1 chunks (or with its length once held whole).
  if (hasBody && contentLength < 0) {
    rawHeaders.push('transfer-encoding', 'chunked');
    lowerNames.push('transfer-encoding');
  }
  if (websocket) {
    // The back-end hears an HTTP/1.1 handshake; its key is the front's, checked against the 101's accept.
    rawHeaders.push('connection', 'upgrade', 'upgrade', 'websocket', 'sec-websocket-key', randomBytes(16).toString('base64'));
    lowerNames.push('connection', 'upgrade', 'sec-websocket-key');
  }
  return { method: websocket ? 'GET' : method, url: path, rawHeaders, lowerNames, hasBody, contentLength, websocket };
}

function malformed(why: string): MalformedRequest {
  return { malformed: why };
}

function show(s: string): string {
  return JSON.stringify(s.slice(0, 40));
}
