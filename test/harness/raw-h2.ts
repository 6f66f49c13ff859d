import { connect, type TLSSocket } from 'node:tls';

// An HTTP/2 client that writes frames byte by byte (RFC 9113 §4, §6), for what node:http2's
// client refuses to send: upper-case names, CR/LF in pseudo-headers, connection fields, floods
// of RST_STREAM or CONTINUATION frames. Header blocks are HPACK literals without indexing
// (RFC 7541 §6.2.2), so any byte goes through. It reads back only frame types and codes
// (responses are read with node:http2 in the tests that need them).

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

export interface ReceivedFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, first = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** A header block of literal fields without indexing, new names (RFC 7541 §6.2.2), no Huffman. */
export function headerBlock(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00, ...hpackInt(n.length, 7)]), n, Buffer.from(hpackInt(v.length, 7)), v);
  }
  return Buffer.concat(parts);
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

export class RawH2 {
  readonly socket: TLSSocket;
  readonly frames: ReceivedFrame[] = [];
  closed = false;
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 9) {
        const length = this.buffer.readUIntBE(0, 3);
        if (this.buffer.length < 9 + length) break;
        const f = { type: this.buffer[3], flags: this.buffer[4], stream: this.buffer.readUInt32BE(5) & 0x7fffffff, payload: this.buffer.subarray(9, 9 + length) };
        this.buffer = this.buffer.subarray(9 + length);
        this.frames.push(f);
        // The server's SETTINGS are acknowledged, as a client must (RFC 9113 §6.5.3).
        if (f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK)) socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /**
   * A TLS connection that chose h2 by ALPN, with the preface and an empty SETTINGS sent, once
   * the server's SETTINGS came and were acknowledged (so that no ACK falls between a test's
   * HEADERS and CONTINUATION frames, which RFC 9113 §6.10 forbids).
   */
  static async open(port: number, ca: string, servername: string): Promise<RawH2> {
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, ca, servername, ALPNProtocols: ['h2'] }, () => {
        if (s.alpnProtocol !== 'h2') return reject(new Error(`ALPN chose ${String(s.alpnProtocol)}`));
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    const h = new RawH2(socket);
    h.write(Buffer.concat([Buffer.from(PREFACE), frame(FRAME.SETTINGS, 0, 0)]));
    await h.until("the server's SETTINGS", () => h.frames.some((f) => f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK)));
    return h;
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** A request's HEADERS frame (END_HEADERS set), ending the stream unless a body follows. */
  headers(stream: number, fields: [string, string][], endStream = true): void {
    this.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0), stream, headerBlock(fields)));
  }

  data(stream: number, bytes: string | Buffer, endStream = true): void {
    this.write(frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, stream, Buffer.from(bytes)));
  }

  rst(stream: number, code = 8 /* CANCEL */): void {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(code);
    this.write(frame(FRAME.RST_STREAM, 0, stream, payload));
  }

  /** The error code of the first RST_STREAM for `stream`, or undefined. */
  resetCode(stream: number): number | undefined {
    const f = this.frames.find((x) => x.type === FRAME.RST_STREAM && x.stream === stream);
    return f?.payload.readUInt32BE(0);
  }

  /** The GOAWAY's error code, or undefined if none came. */
  get goaway(): number | undefined {
    const f = this.frames.find((x) => x.type === FRAME.GOAWAY);
    return f?.payload.readUInt32BE(4);
  }

  /** Whether a response HEADERS frame came for `stream`. */
  answered(stream: number): boolean {
    return this.frames.some((x) => x.type === FRAME.HEADERS && x.stream === stream);
  }

  /** Resolves once `done()` holds (checked on every frame and on close), or rejects after ms. */
  until(what: string, done: () => boolean, ms = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done()) {
          clearTimeout(timer);
          return resolve();
        }
        if (this.closed) {
          clearTimeout(timer);
          return reject(new Error(`connection closed before ${what}`));
        }
        this.waiters.push(check);
      };
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
      check();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
