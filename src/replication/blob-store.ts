import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CohortError } from '../errors.ts';

export const DIGEST = /^[0-9a-f]{64}$/;

export interface Blob {
  /** sha256 of the bytes, hex. */
  digest: string;
  size: number;
}

/**
 * A node's resource bytes, one file per content (named by its sha256) under dataDir/blobs:
 * a resource's versions and its copies elsewhere are the same files, and no name a client
 * chose ever reaches the file system. Bytes arrive in a temporary file (seed 000's D5a),
 * are checked, made durable, and only then renamed into place (D7): a file under its digest
 * is always complete and correct.
 */
export class BlobStore {
  readonly dir: string;
  private readonly tmp: string;

  constructor(dir: string) {
    this.dir = dir;
    this.tmp = join(dir, 'tmp');
    mkdirSync(this.tmp, { recursive: true, mode: 0o700 });
    // Transfers a crash cut short: never renamed, so never served.
    for (const f of readdirSync(this.tmp)) rmSync(join(this.tmp, f), { force: true });
  }

  path(digest: string): string {
    if (!DIGEST.test(digest)) throw new CohortError('bad_args', `not a sha256 digest: ${digest.slice(0, 80)}`);
    return join(this.dir, digest);
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  /**
   * Streams `source` into the store. With `expect`, the bytes must have that digest and size
   * (a copy from the home node), else nothing is kept and the error says why. Past maxBytes
   * the transfer stops at once (too_large).
   */
  async receive(source: Readable, maxBytes: number, expect?: Blob): Promise<Blob> {
    const hash = createHash('sha256');
    let size = 0;
    const limit = expect ? Math.min(expect.size, maxBytes) : maxBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > limit) return done(new CohortError('too_large', expect ? `more bytes than the ${expect.size} announced` : `over the limit of ${maxBytes} bytes`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const tmpFile = join(this.tmp, randomBytes(12).toString('hex'));
    try {
      await pipeline(source, meter, createWriteStream(tmpFile, { mode: 0o600 }));
      const digest = hash.digest('hex');
      if (expect && size !== expect.size) throw new CohortError('bad_frame', `the transfer ended after ${size} of ${expect.size} bytes`);
      if (expect && digest !== expect.digest) throw new CohortError('bad_frame', `digest mismatch: the bytes hash to ${digest}, the home node announced ${expect.digest}`);
      await syncFile(tmpFile);
      await rename(tmpFile, join(this.dir, digest));
      return { digest, size };
    } catch (err) {
      await rm(tmpFile, { force: true });
      throw err;
    }
  }

  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Removes every file no row refers to any more (a delete a crash interrupted). */
  sweep(referenced: (digest: string) => boolean): number {
    let removed = 0;
    for (const f of readdirSync(this.dir)) {
      if (DIGEST.test(f) && !referenced(f)) {
        rmSync(join(this.dir, f), { force: true });
        removed++;
      }
    }
    return removed;
  }
}

async function syncFile(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
