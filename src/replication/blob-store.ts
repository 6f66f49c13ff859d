import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CohortError } from '../errors.ts';
import { crashPoint } from '../critical/crash-points.ts';
import type { BlobCache } from './blob-cache.ts';

export const DIGEST = /^[0-9a-f]{64}$/;

export interface Blob {
  /** sha256 of the bytes, hex. */
  digest: string;
  size: number;
}

/** How long the file of a copy replaced or dropped stays readable (see retire). */
export const RETIRE_MS = 10_000;
/** Bytes just received: kept from removal until `release()` (call it once the row that names them is added, or given up). */
export interface ReceivedBlob extends Blob {
  release: () => void;
}

/**
 * A node's resource bytes, one file per content (named by its sha256) under dataDir/blobs:
 * a resource's versions and its copies elsewhere are the same files, and no name a client
 * chose ever reaches the file system. Bytes arrive in a temporary file (seed 000's D5a),
 * are checked, made durable, and only then renamed into place (D7): a file under its digest
 * is always complete and correct. A copy small enough for the memory cache is checked in
 * memory and may be served from there (`onChecked`) while it is written, synced and renamed:
 * only checked bytes are ever served, and only durable ones are named by a row.
 */
export class BlobStore {
  readonly dir: string;
  private readonly tmp: string;
  /** Does a row (a version published here, a copy) refer to this content? */
  private readonly referenced: (digest: string) => boolean;
  /**
   * Digests held between their bytes being here and the row that names them being added: a
   * removal meanwhile (another URL with the same content dropped) would leave that row without a file.
   */
  private readonly held = new Map<string, number>();

  /** Small contents' bytes in memory (blob-cache.ts); dropped with their files. */
  readonly cache: BlobCache;

  constructor(dir: string, referenced: (digest: string) => boolean, cache: BlobCache) {
    this.dir = dir;
    this.referenced = referenced;
    this.cache = cache;
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

  /** Keeps `digest` from removal until the returned function is called (once; later calls do nothing). */
  hold(digest: string): () => void {
    this.held.set(digest, (this.held.get(digest) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.held.get(digest) ?? 1) - 1;
      if (n > 0) this.held.set(digest, n);
      else this.held.delete(digest);
    };
  }

  /**
   * Streams `source` into the store. With `expect`, the bytes must have that digest and size
   * (a copy from the home node), else nothing is kept and the error says why. Past maxBytes
   * the transfer stops at once (too_large). The result is held (see ReceivedBlob) from before the
   * file is in place. Bytes the memory cache can hold are held there once the file is in place;
   * with `onChecked` too (a copy), they are also given to it once checked, before they are written.
   */
  async receive(source: Readable, maxBytes: number, expect?: Blob, onChecked?: (bytes: Buffer) => void): Promise<ReceivedBlob> {
    const hash = createHash('sha256');
    let size = 0;
    const limit = expect ? Math.min(expect.size, maxBytes) : maxBytes;
    const whole = expect !== undefined && onChecked !== undefined && this.cache.holds(expect.size);
    const tmpFile = join(this.tmp, randomBytes(12).toString('hex'));
    const file = await open(tmpFile, 'w', 0o600);
    let release: (() => void) | undefined;
    try {
      // Gathered into large writes: a write per 16 KiB network chunk costs more than the bytes.
      let gathered: Buffer[] = [];
      let gatheredBytes = 0;
      // What the memory cache can hold is kept (the chunks themselves) and held there once durable:
      // a resource just published or copied is the one about to be read. A publish, whose size is
      // not known before, keeps no more than one write's worth (held for the write anyway).
      const keepUpTo = expect ? this.cache.maxFileBytes : Math.min(this.cache.maxFileBytes, WRITE_BYTES);
      let kept: Buffer[] | undefined = this.cache.holds(expect?.size ?? 0) ? [] : undefined;
      for await (const chunk of source as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) throw new CohortError('too_large', expect ? `more bytes than the ${expect.size} announced` : `over the limit of ${maxBytes} bytes`);
        hash.update(chunk);
        gathered.push(chunk);
        if (kept && size > keepUpTo) kept = undefined;
        kept?.push(chunk);
        gatheredBytes += chunk.length;
        if (!whole && gatheredBytes >= WRITE_BYTES) {
          await writeAll(file, gathered);
          gathered = [];
          gatheredBytes = 0;
        }
      }
      if (!whole) await writeAll(file, gathered);
      const digest = hash.digest('hex');
      if (expect && size !== expect.size) throw new CohortError('bad_frame', `the transfer ended after ${size} of ${expect.size} bytes`);
      if (expect && digest !== expect.digest) throw new CohortError('bad_frame', `digest mismatch: the bytes hash to ${digest}, the home node announced ${expect.digest}`);
      // Copied whole, also from one chunk: a slice would keep the parser's larger buffer alive.
      const bytes = kept && Buffer.concat(kept, size);
      if (whole) {
        onChecked!(bytes!);
        await writeAll(file, [bytes!]);
        crashPoint('copy_answered');
      }
      await file.sync();
      await file.close();
      release = this.hold(digest);
      await rename(tmpFile, join(this.dir, digest));
      // The rename itself is durable only once the folder is: a power cut must not lose a file a row names.
      await syncFolder(this.dir);
      if (bytes) this.cache.put(digest, bytes);
      return { digest, size, release };
    } catch (err) {
      release?.();
      source.destroy();
      await file.close().catch(() => undefined);
      await rm(tmpFile, { force: true });
      throw err;
    }
  }

  /**
   * Removes the file unless a row refers to it or it is held. Synchronous: nothing can start using
   * the file between the check and the removal.
   */
  removeIfUnused(digest: string): boolean {
    if (this.held.has(digest) || this.referenced(digest)) return false;
    rmSync(this.path(digest), { force: true });
    this.cache.drop(digest);
    return true;
  }

  /**
   * Removes the file once RETIRE_MS have passed, unless a row refers to it or it is held then: a
   * copy replaced by a newer version, or dropped, may still be read by an app that was given its
   * path a moment ago (client.resources.local), and a path answered must not vanish before it is
   * opened. A node that stops meanwhile leaves the file to the sweep at its next start.
   */
  retire(digest: string): void {
    const release = this.hold(digest);
    setTimeout(() => {
      release();
      this.removeIfUnused(digest);
    }, RETIRE_MS).unref();
  }

  /** Removes every file no row refers to any more (a delete a crash interrupted). */
  sweep(): number {
    let removed = 0;
    for (const f of readdirSync(this.dir)) {
      if (DIGEST.test(f) && !this.held.has(f) && !this.referenced(f)) {
        rmSync(join(this.dir, f), { force: true });
        this.cache.drop(f);
        removed++;
      }
    }
    return removed;
  }
}

async function syncFolder(dir: string): Promise<void> {
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/** Bytes gathered before one write to the temporary file (bounded memory per transfer). */
const WRITE_BYTES = 1024 * 1024;

async function writeAll(file: FileHandle, buffers: Buffer[]): Promise<void> {
  if (!buffers.length) return;
  let data = buffers.length === 1 ? buffers[0] : Buffer.concat(buffers);
  while (data.length > 0) {
    const { bytesWritten } = await file.write(data);
    data = data.subarray(bytesWritten);
  }
}
