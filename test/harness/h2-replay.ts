import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';
import type { ParsedResponse } from './raw-http.ts';

// The conformance table's HTTP/1.1 requests sent again over HTTP/2: each piece of raw bytes is
// read as whole HTTP/1.1 requests and each becomes one stream (Host → :authority, an
// absolute-form target → :scheme, :authority and :path). What HTTP/2 cannot say (transfer
// codings, obs-fold, bare CR or LF, HTTP/1.0, connection fields, upgrades, a body cut short)
// is reported as the reason the row does not apply, never sent.

export interface H2Request {
  headers: OutgoingHttpHeaders;
  body: string | undefined;
  head: boolean;
}

/** Fields with no meaning in HTTP/2 (RFC 9113 §8.2.2): a row that sends one is about HTTP/1.1. */
const CONNECTION_FIELDS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** The requests in one piece of a row, or why HTTP/2 cannot carry them. */
export function h2Requests(piece: string): H2Request[] | string {
  const out: H2Request[] = [];
  let rest = piece;
  while (rest.length) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return 'a request head cut short';
    const [line, ...lines] = rest.slice(0, end).split('\r\n');
    const m = /^([A-Z]+) (\S+) HTTP\/1\.1$/.exec(line);
    if (!m) return line.endsWith('HTTP/1.0') ? 'HTTP/1.0' : 'an HTTP/1.1 request line';
    const [, method, target] = m;
    const fields: [string, string][] = [];
    for (const l of lines) {
      if (/^[ \t]/.test(l)) return 'obs-fold';
      if (/[\r\n]/.test(l)) return 'a bare CR or LF';
      const colon = l.indexOf(':');
      if (colon <= 0) return 'a field line without a name';
      fields.push([l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()]);
    }
    const named = fields.find(([n, v]) => CONNECTION_FIELDS.has(n) || (n === 'te' && v !== 'trailers'));
    if (named) return `the HTTP/1.1 field ${named[0]}`;
    const lengths = fields.filter(([n]) => n === 'content-length').map(([, v]) => Number(v));
    const length = lengths[0] ?? 0;
    if (rest.length < end + 4 + length) return 'a body cut short';
    const body = length > 0 ? rest.slice(end + 4, end + 4 + length) : undefined;
    rest = rest.slice(end + 4 + length);

    const headers: OutgoingHttpHeaders = { ':method': method, ':scheme': 'https' };
    const absolute = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(target);
    if (absolute) {
      headers[':scheme'] = absolute[1].toLowerCase();
      headers[':authority'] = absolute[2];
      headers[':path'] = absolute[3] || '/';
    } else {
      headers[':path'] = target;
    }
    const hosts = fields.filter(([n]) => n === 'host').map(([, v]) => v);
    if (hosts.length > 1) return 'two Host fields (HTTP/2 has one :authority)';
    if (hosts.length === 0 && !absolute) return 'no Host (HTTP/2 requires :authority or host)';
    if (!absolute) headers[':authority'] = hosts[0];
    else if (hosts.length) headers.host = hosts[0];
    for (const [n, v] of fields) {
      if (n === 'host') continue;
      const before = headers[n];
      headers[n] = before === undefined ? v : [...[before].flat().map(String), v];
    }
    out.push({ headers, body, head: method === 'HEAD' });
  }
  return out;
}

/** Sends one request on the session: its response as the table's reader would have parsed it (status 0 for a reset stream). */
export function sendH2(session: ClientHttp2Session, request: H2Request): Promise<ParsedResponse> {
  return new Promise((resolve) => {
    let stream;
    try {
      stream = session.request(request.headers, { endStream: request.body === undefined });
    } catch (err) {
      return resolve({ status: 0, headers: { 'x-refused-by-client': (err as Error).message }, body: '' });
    }
    let status = 0;
    const headers: Record<string, string> = {};
    let body = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
      for (const [n, v] of Object.entries(h)) if (!n.startsWith(':') && v !== undefined) headers[n] = [v].flat().join(', ');
    });
    stream.setEncoding('latin1');
    stream.on('data', (d: string) => (body += d));
    stream.on('close', () => resolve({ status, headers: status ? headers : { 'x-reset': String(stream.rstCode) }, body }));
    stream.on('error', () => {});
    if (request.body !== undefined) stream.end(request.body);
  });
}

/** The responses written out as HTTP/1.1 text, for the rows that match on it. */
export function asText(responses: ParsedResponse[]): string {
  return responses.map((r) => `HTTP/1.1 ${r.status} \r\n${Object.entries(r.headers).map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${r.body}`).join('');
}
