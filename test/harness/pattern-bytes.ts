import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/** N bytes of a seeded sequence (xorshift): no two 64 KiB stretches alike. */
export function patternBytes(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** The SHA-256 of some bytes, in hex (to compare large bodies without printing them). */
export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A client that stops reading: nothing is read for `ms`, then the whole body, gathered. */
export function readAfterPause(body: Readable, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    body.pause();
    setTimeout(() => body.resume(), ms);
    body.on('data', (c: Buffer) => parts.push(c));
    body.on('end', () => resolve(Buffer.concat(parts)));
    body.on('error', reject);
  });
}
