import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { waitFor } from './wait.ts';

/** Over HTTPS: the CA to trust and the name to ask for (SNI). */
export interface RawTls {
  ca: string;
  servername: string;
}

/** A connection to the front on 127.0.0.1, plain or over TLS; `ready` once it can carry bytes (after the handshake). */
function open(port: number, tls: RawTls | undefined, ready?: () => void): Socket {
  return tls ? connectTls({ host: '127.0.0.1', port, ca: tls.ca, servername: tls.servername }, ready) : connect(port, '127.0.0.1', ready);
}

/** Sends raw bytes; resolves with everything the server answered before it closed (or waitMs passed). */
export function rawExchange(port: number, bytes: string, waitMs = 2000, tls?: RawTls): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = open(port, tls);
    let text = '';
    let closed = false;
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed });
    }, waitMs);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ text, closed });
    });
    s.write(bytes, 'latin1');
  });
}

/** A hand-driven HTTP/1.x client connection: write bytes, wait for what comes back. */
export class RawHttp {
  private readonly socket: Socket;
  text = '';
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d) => (this.text += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
  }

  static open(port: number, tls?: RawTls): Promise<RawHttp> {
    return new Promise((resolve, reject) => {
      const s = open(port, tls, () => resolve(new RawHttp(s)));
      s.once('error', reject);
    });
  }

  write(bytes: string): void {
    this.socket.write(bytes, 'latin1');
  }

  /** Half-closes: the server sees end of input, and may still answer. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Waits until `n` whole responses have arrived, and returns them (`heads`: which answer HEAD requests). */
  async responses(n: number, timeoutMs = 5000, heads: number[] = []): Promise<ParsedResponse[]> {
    return waitFor(`${n} responses`, () => {
      const parsed = parseResponses(this.text, this.closed, heads);
      return parsed.length >= n ? parsed : null;
    }, timeoutMs, 10);
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    await waitFor('the server to close the connection', () => this.closed, timeoutMs, 10);
  }
}

export interface ParsedResponse {
  status: number;
  /** Header names in lower case; repeated ones joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

/**
 * The whole responses in `text` (bodies framed by length, chunked, or by the close when
 * `closed`; none for the responses whose index is in `heads`, which answer HEAD). After a
 * 101 the bytes are another protocol's. A strict little parser of its own, so the test does
 * not trust the front's.
 */
export function parseResponses(text: string, closed: boolean, heads: number[] = []): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) return out;
    const lines = text.slice(pos, headEnd).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
    if (!status) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      out.push({ status, headers, body: '' });
      if (status === 101) return out;
      pos = bodyStart;
      continue;
    }
    let body = '';
    if (heads.includes(out.length)) {
      pos = bodyStart;
    } else if (headers['transfer-encoding'] === 'chunked') {
      let p = bodyStart;
      for (;;) {
        const eol = text.indexOf('\r\n', p);
        if (eol < 0) return out;
        const size = parseInt(text.slice(p, eol), 16);
        if (size === 0) {
          if (text.length < eol + 4) return out;
          p = eol + 4;
          break;
        }
        if (text.length < eol + 2 + size + 2) return out;
        body += text.slice(eol + 2, eol + 2 + size);
        p = eol + 2 + size + 2;
      }
      pos = p;
    } else if (headers['content-length'] !== undefined) {
      if (!/^\d+$/.test(headers['content-length'])) throw new Error(`not one Content-Length: ${JSON.stringify(headers['content-length'])}`);
      const n = Number(headers['content-length']);
      if (text.length < bodyStart + n) return out;
      body = text.slice(bodyStart, bodyStart + n);
      pos = bodyStart + n;
    } else if (status === 204 || status === 304) {
      pos = bodyStart;
    } else {
      if (!closed) return out;
      body = text.slice(bodyStart);
      pos = text.length;
      bodyStart = pos;
    }
    out.push({ status, headers, body });
  }
}
