import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { FrameDecoder } from '../../src/net/framing.ts';

/** What a raw connection saw before it ended: decoded frames and how it ended. */
export interface Outcome {
  frames: Record<string, unknown>[];
  closed: boolean;
  error?: string;
}

/** Collects frames until the other side closes (or timeoutMs passes). */
export function collect(socket: Socket | TLSSocket, timeoutMs = 3000): Promise<Outcome> {
  return new Promise((resolve) => {
    const decoder = new FrameDecoder(1 << 20);
    const outcome: Outcome = { frames: [], closed: false };
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(outcome);
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (m) => outcome.frames.push(m as Record<string, unknown>));
      } catch (err) {
        outcome.error = (err as Error).message;
      }
    });
    socket.on('error', (err) => {
      outcome.error ??= err.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      outcome.closed = true;
      resolve(outcome);
    });
  });
}

export function rawTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

export function rawUnix(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(path, () => resolve(s));
    s.once('error', reject);
  });
}

/** A TLS connection presenting the given certificate; resolves once our side sees the handshake done. */
/** `localAddress`: another loopback address to come from (127.0.0.x: an address the host table lacks). */
export function rawTls(port: number, creds: { ca: Buffer; cert: Buffer; key: Buffer }, localAddress?: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...creds, ...({ localAddress } as object), minVersion: 'TLSv1.3', checkServerIdentity: () => undefined }, () => resolve(s));
    s.once('error', reject);
  });
}

export function frame(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}
