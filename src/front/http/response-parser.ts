// A strict HTTP/1.1 response parser for the front's upstream connections (RFC 9112).
// Pure state machine: bytes in, events out, an UpstreamError (code protocol) on anything malformed.
// It decodes chunked bodies (the front re-frames them for the client) and decides
// whether the connection can carry another request afterwards. The only transfer coding it
// frames is chunked, once (RFC 9112 §7): a body in any other coding is refused rather than
// forwarded without the header that states its coding.

import { UpstreamError } from '../upstream/upstream-error.ts';

const protocolError = (message: string) => new UpstreamError('protocol', message);

export interface ResponseEvents {
  /**
   * Status, reason, headers as a flat [name, value, ...] list (hop-by-hop ones included),
   * and the header names in lower case, one per pair. Names and values are checked again
   * by Node when they are written to the client (token / invalid-character checks).
   */
  onHead(status: number, reason: string, headers: string[], lowerNames: string[], closeAfter: boolean): void;
  /** Body bytes: a view of the caller's read buffer, which it reuses unless told it is still held (connection.ts). */
  onBody(chunk: Buffer): void;
  onEnd(): void;
}

/** A 101 to an upgrade request: the connection carries another protocol from `rest` on. */
export interface Switch {
  reason: string;
  headers: string[];
  lowerNames: string[];
  rest: Buffer;
}

type BodyMode = 'none' | 'length' | 'chunked' | 'close';
type State = 'head' | 'body' | 'chunk_size' | 'chunk_data' | 'chunk_crlf' | 'trailers' | 'done' | 'upgraded';


export class ResponseParser {
  private readonly maxHeaderBytes: number;
  private events: ResponseEvents | undefined;
  private headRequest = false;
  private upgradeRequest = false;
  private state: State = 'done';
  private pending: Buffer | null = null;
  private remaining = 0;
  private mode: BodyMode = 'none';
  /** Whether the connection may carry another request once this response ends. */
  keepAlive = true;
  /** True once any byte of the response arrived: from then on a request is not replayed. */
  started = false;
  /** Bytes came after the end of the response: the connection is out of step and must go. */
  overrun = false;
  /** Set when a 101 answered an upgrade request; the caller takes the connection from here. */
  switched: Switch | undefined;

  constructor(maxHeaderBytes: number) {
    this.maxHeaderBytes = maxHeaderBytes;
  }

  /** Arms the parser for the response to one request (a HEAD; one that asks for an upgrade). */
  expect(events: ResponseEvents, headRequest: boolean, upgradeRequest = false): void {
    this.events = events;
    this.headRequest = headRequest;
    this.upgradeRequest = upgradeRequest;
    this.state = 'head';
    this.started = false;
    this.overrun = false;
    this.switched = undefined;
    this.pending = null;
  }

  get idle(): boolean {
    return this.state === 'done';
  }

  push(chunk: Buffer): void {
    if (this.state === 'done' || this.state === 'upgraded') {
      if (chunk.length) throw protocolError('bytes from upstream with no request outstanding');
      return;
    }
    // The first bytes of a response must be one: anything else means the connection is out of
    // step (stray bytes from an earlier answer), and the request was never answered.
    if (this.state === 'head' && !this.started && !startsLikeResponse(chunk)) throw protocolError('bytes that are not an HTTP response: the connection was out of step');
    this.started = true;
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let pos = 0;
    while (pos < buf.length && (this.state as State) !== 'done') {
      switch (this.state) {
        case 'head': {
          const end = buf.indexOf('\r\n\r\n', pos, 'latin1');
          if (end < 0) {
            if (buf.length - pos > this.maxHeaderBytes) throw protocolError('response head too large');
            this.pending = Buffer.from(buf.subarray(pos)); // the caller's buffer is reused
            return;
          }
          if (end - pos > this.maxHeaderBytes) throw protocolError('response head too large');
          const upgrade = this.parseHead(buf.toString('latin1', pos, end));
          pos = end + 4;
          if (upgrade) {
            this.state = 'upgraded';
            this.events = undefined;
            this.switched = { ...upgrade, rest: Buffer.from(buf.subarray(pos)) };
            return;
          }
          break;
        }
        case 'body': {
          if (this.mode === 'close') {
            this.events!.onBody(pos === 0 ? buf : buf.subarray(pos));
            return;
          }
          const take = Math.min(this.remaining, buf.length - pos);
          this.events!.onBody(take === buf.length ? buf : buf.subarray(pos, pos + take));
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.finish();
          break;
        }
        case 'chunk_size':
        case 'trailers':
        case 'chunk_crlf': {
          const eol = buf.indexOf('\r\n', pos, 'latin1');
          if (eol < 0) {
            if (buf.length - pos > 8192) throw protocolError('chunk line too long');
            this.pending = Buffer.from(buf.subarray(pos));
            return;
          }
          const line = buf.toString('latin1', pos, eol);
          pos = eol + 2;
          if (this.state === 'chunk_crlf') {
            if (line !== '') throw protocolError('missing CRLF after chunk data');
            this.state = 'chunk_size';
          } else if (this.state === 'trailers') {
            if (line === '') this.finish();
          } else {
            const semi = line.indexOf(';');
            const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
            if (!/^[0-9A-Fa-f]{1,12}$/.test(hex)) throw protocolError(`invalid chunk size ${JSON.stringify(hex.slice(0, 20))}`);
            this.remaining = parseInt(hex, 16);
            this.state = this.remaining === 0 ? 'trailers' : 'chunk_data';
          }
          break;
        }
        case 'chunk_data': {
          const take = Math.min(this.remaining, buf.length - pos);
          this.events!.onBody(buf.subarray(pos, pos + take));
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = 'chunk_crlf';
          break;
        }
      }
    }
    // The response is whole and answered; what follows it belongs to no request.
    if (pos < buf.length) this.overrun = true;
  }

  /** The upstream closed the connection: ends a close-delimited body, else it is an error. */
  close(): void {
    if (this.state === 'body' && this.mode === 'close') return this.finish();
    if (this.state !== 'done') throw protocolError(this.started ? 'upstream closed in the middle of the response' : 'upstream closed before responding');
  }

  /** Parses a response head; returns a 101 to an upgrade request instead of announcing it. */
  private parseHead(head: string): { reason: string; headers: string[]; lowerNames: string[] } | undefined {
    // Scanned by hand (no split, no regex per line): this runs once per proxied response.
    let eol = head.indexOf('\r\n');
    if (eol < 0) eol = head.length;
    // "HTTP/1.x SSS reason"
    if (eol < 12 || !head.startsWith('HTTP/1.') || head.charCodeAt(8) !== 32 || (eol > 12 && head.charCodeAt(12) !== 32)) {
      throw protocolError(`bad status line ${JSON.stringify(head.slice(0, Math.min(eol, 60)))}`);
    }
    const minor = head.charCodeAt(7);
    const d0 = head.charCodeAt(9) - 48;
    const d1 = head.charCodeAt(10) - 48;
    const d2 = head.charCodeAt(11) - 48;
    if ((minor !== 48 && minor !== 49) || d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
      throw protocolError(`bad status line ${JSON.stringify(head.slice(0, Math.min(eol, 60)))}`);
    }
    const http10 = minor === 48;
    const status = d0 * 100 + d1 * 10 + d2;
    const reason = eol > 13 ? head.slice(13, eol) : '';
    const headers: string[] = [];
    const lowerNames: string[] = [];
    let contentLength = -1;
    let codings = '';
    let connectionClose = http10;
    let pos = eol + 2;
    while (pos < head.length) {
      let end = head.indexOf('\r\n', pos);
      if (end < 0) end = head.length;
      const colon = head.indexOf(':', pos);
      if (colon <= pos || colon > end) throw protocolError(`bad header line ${JSON.stringify(head.slice(pos, Math.min(end, pos + 60)))}`);
      const name = head.slice(pos, colon);
      // The value less the optional whitespace around it (SP and HTAB only, RFC 9110 §5.5), sliced once.
      let from = colon + 1;
      let to = end;
      while (from < to && isOws(head.charCodeAt(from))) from++;
      while (to > from && isOws(head.charCodeAt(to - 1))) to--;
      const value = head.slice(from, to);
      const lower = name.toLowerCase();
      pos = end + 2;
      if (lower === 'content-length') {
        if (!/^\d{1,15}$/.test(value)) throw protocolError(`bad content-length ${JSON.stringify(value)}`);
        const n = Number(value);
        if (contentLength >= 0) {
          if (contentLength !== n) throw protocolError('conflicting content-length headers');
          continue; // the same length again: forwarded once (RFC 9110 §8.6)
        }
        contentLength = n;
      } else if (lower === 'transfer-encoding') {
        codings = codings ? `${codings},${value}` : value;
      } else if (lower === 'connection') {
        const tokens = value.toLowerCase();
        if (/(?:^|,)\s*close\s*(?:,|$)/.test(tokens)) connectionClose = true;
        if (http10 && /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(tokens)) connectionClose = false;
      }
      headers.push(name, value);
      lowerNames.push(lower);
    }
    if (status === 101) {
      if (!this.upgradeRequest) throw protocolError('unexpected 101 on a plain request');
      return { reason, headers, lowerNames };
    }
    if (status >= 100 && status < 200) {
      // Interim responses (100 Continue, 103 Early Hints) are dropped; the final one follows.
      this.state = 'head';
      return undefined;
    }
    const transferEncoding = codings !== '';
    // With Transfer-Encoding the length is not the body's (RFC 9112 §6.3): it must not be forwarded.
    if (transferEncoding && contentLength >= 0) dropField(headers, lowerNames, 'content-length');
    // An HTTP/1.0 message with Transfer-Encoding has faulty framing: close after it (RFC 9112 §6.1).
    const faulty = transferEncoding && http10;
    this.keepAlive = !connectionClose && !faulty;
    const bodiless = this.headRequest || status === 204 || status === 304;
    // A body announced where none may follow (HEAD, 204) may still come, later: that
    // connection cannot be trusted with another request. So with any non-101 answer to an upgrade.
    if ((bodiless && status !== 304 && (transferEncoding || contentLength > 0)) || this.upgradeRequest) this.keepAlive = false;
    if (transferEncoding && !bodiless && !/^\s*chunked\s*$/i.test(codings)) {
      throw protocolError(`transfer coding '${codings.slice(0, 60)}' cannot be forwarded (only chunked, once)`);
    }
    this.events!.onHead(status, reason, headers, lowerNames, faulty);
    if (bodiless) {
      this.mode = 'none';
      this.finish();
      return undefined;
    }
    if (transferEncoding) {
      this.mode = 'chunked';
      this.state = 'chunk_size';
    } else if (contentLength >= 0) {
      this.mode = 'length';
      this.remaining = contentLength;
      if (contentLength === 0) this.finish();
      else this.state = 'body';
    } else {
      this.mode = 'close';
      this.keepAlive = false;
      this.state = 'body';
    }
    return undefined;
  }

  private finish(): void {
    this.state = 'done';
    const events = this.events!;
    this.events = undefined;
    events.onEnd();
  }
}

function dropField(headers: string[], lowerNames: string[], lowerName: string): void {
  for (let i = lowerNames.length - 1; i >= 0; i--) {
    if (lowerNames[i] !== lowerName) continue;
    lowerNames.splice(i, 1);
    headers.splice(2 * i, 2);
  }
}

const isOws = (c: number) => c === 32 || c === 9;

const PREFIX = Buffer.from('HTTP/1.');

/** Whether a response's first bytes can begin a status line ("HTTP/1."), as far as they go. */
function startsLikeResponse(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, PREFIX.length);
  return chunk.compare(PREFIX, 0, n, 0, n) === 0;
}
