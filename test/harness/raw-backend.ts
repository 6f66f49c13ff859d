import { createServer, type Server, type Socket } from 'node:net';

/** One request as the back-end received it from the front, byte for byte. */
export interface RawRequest {
  /** Which of the back-end's connections carried it (1, 2, ...). */
  conn: number;
  method: string;
  target: string;
  /** The head as received, request line included. */
  head: string;
  /** Header fields as received, names in lower case, in order. */
  headers: [string, string][];
  /** The body, de-chunked if it came chunked. */
  body: string;
}

/** What a scripted answer can do with the connection its request came on. */
export interface RawConnection {
  readonly id: number;
  write(bytes: string): void;
  end(bytes?: string): void;
  /** From now on the bytes that arrive are not HTTP: they are recorded in `tunnelled` and echoed with `echo:`. */
  tunnel(): void;
}

export type Script = (req: RawRequest, conn: RawConnection) => void;

/** Answers 200 with a small body naming the target. */
export const answerOk: Script = (req, conn) => conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${3 + req.target.length}\r\n\r\nok:${req.target}`);

/**
 * A back-end for the front's conformance tests that speaks raw bytes: it records every
 * request the front sends it (head, fields and body, as received, and on which connection)
 * and answers each with whatever the test scripted, malformed answers included. Health
 * checks (`/healthz`) always get 200 and are not recorded. A small strict parser of its own,
 * so that what the front sends is checked by something other than the front.
 */
export class RawBackend {
  /** Every request but health checks, in arrival order. */
  readonly requests: RawRequest[] = [];
  /** Bytes received on tunnelled connections, by connection. */
  readonly tunnelled = new Map<number, string>();
  /** What answers the next requests; a test sets it. */
  script: Script = answerOk;
  /** Answer as soon as a head is whole, before any body (the connection then only records). */
  early = false;
  private readonly server: Server;
  private connections = 0;
  readonly sockets = new Set<Socket>();
  /** The ids of the connections open now. */
  readonly open = new Set<number>();

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(): Promise<RawBackend> {
    const server = createServer();
    const backend = new RawBackend(server);
    server.on('connection', (socket) => backend.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return backend;
  }

  /** Connections accepted so far. */
  get connectionCount(): number {
    return this.connections;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  reset(script: Script = answerOk, early = false): void {
    this.requests.length = 0;
    this.tunnelled.clear();
    this.script = script;
    this.early = early;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const id = ++this.connections;
    this.sockets.add(socket);
    this.open.add(id);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.open.delete(id);
    });
    socket.on('error', () => {});
    let buffer = '';
    let tunnelling = false;
    const conn: RawConnection = {
      id,
      write: (bytes) => socket.writable && socket.write(bytes, 'latin1'),
      end: (bytes) => socket.end(bytes ?? '', 'latin1'),
      tunnel: () => {
        tunnelling = true;
        this.tunnelled.set(id, '');
      },
    };
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (tunnelling) {
          if (buffer) {
            this.tunnelled.set(id, this.tunnelled.get(id)! + buffer);
            conn.write(`echo:${buffer}`);
          }
          buffer = '';
          return;
        }
        if (this.early && buffer.includes('\r\n\r\n') && !buffer.startsWith('GET /healthz ')) {
          const headEnd = buffer.indexOf('\r\n\r\n') + 4;
          const { request } = parseRequest(buffer.slice(0, headEnd).replace(/\r\n(content-length|transfer-encoding):[^\r]*/gi, ''), id)!;
          buffer = buffer.slice(headEnd);
          this.requests.push(request);
          this.script(request, conn);
          conn.tunnel();
          continue;
        }
        const parsed = parseRequest(buffer, id);
        if (!parsed) return;
        buffer = buffer.slice(parsed.length);
        if (parsed.request.target === '/healthz') conn.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else {
          this.requests.push(parsed.request);
          this.script(parsed.request, conn);
        }
      }
    });
  }
}

/** One whole request at the start of `text`, or undefined if it is not all there yet. */
function parseRequest(text: string, conn: number): { request: RawRequest; length: number } | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = text.slice(0, end);
  const [line, ...fields] = head.split('\r\n');
  const [method, target] = line.split(' ');
  const headers = fields.map((f): [string, string] => [f.slice(0, f.indexOf(':')).toLowerCase(), f.slice(f.indexOf(':') + 1).trim()]);
  const field = (name: string) => headers.find(([n]) => n === name)?.[1];
  let pos = end + 4;
  let body = '';
  if (field('transfer-encoding')?.toLowerCase() === 'chunked') {
    for (;;) {
      const eol = text.indexOf('\r\n', pos);
      if (eol < 0) return undefined;
      const size = parseInt(text.slice(pos, eol), 16);
      if (size === 0) {
        const trailerEnd = text.indexOf('\r\n\r\n', eol);
        if (trailerEnd < 0 && !text.startsWith('\r\n', eol + 2)) return undefined;
        pos = text.startsWith('\r\n', eol + 2) ? eol + 4 : trailerEnd + 4;
        break;
      }
      if (text.length < eol + 2 + size + 2) return undefined;
      body += text.slice(eol + 2, eol + 2 + size);
      pos = eol + 2 + size + 2;
    }
  } else if (field('content-length') !== undefined) {
    const n = Number(field('content-length'));
    if (text.length < pos + n) return undefined;
    body = text.slice(pos, pos + n);
    pos += n;
  }
  return { request: { conn, method, target, head, headers, body }, length: pos };
}
