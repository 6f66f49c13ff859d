import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';

/** Files read at once to fill the cache; past it a request is served from its file (memory stays bounded under a flood of cold URLs). */
const MAX_LOADING = 64;

/**
 * Small resources' bytes in memory, least recently served dropped first (lru-cache, bounded in
 * bytes): a plain GET of one is a single write, without the open, stat, read and close of
 * serving its file (nginx's open_file_cache and Varnish's malloc storage do the same job).
 * Keyed by digest, so an entry is never stale: a new version is a new digest, and the same
 * content published under two URLs is held once.
 */
export class BlobCache {
  private readonly cache: LRUCache<string, Buffer> | undefined;
  /** Reads of files into the cache under way: concurrent requests for one digest share one. */
  private readonly loading = new Map<string, Promise<Buffer>>();
  /** The largest resource held (and, in a transfer, checked in memory and served before it is on disk). */
  readonly maxFileBytes: number;
  private readonly log: Logger;

  constructor(maxBytes: number, maxFileBytes: number, log: Logger) {
    this.maxFileBytes = Math.min(maxFileBytes, maxBytes);
    this.log = log;
    this.cache = maxBytes > 0 && this.maxFileBytes > 0 ? new LRUCache({ maxSize: maxBytes, maxEntrySize: this.maxFileBytes, sizeCalculation: (b) => Math.max(1, b.length) }) : undefined;
  }

  /** Whether a resource of `size` bytes is held here. */
  holds(size: number): boolean {
    return this.cache !== undefined && size <= this.maxFileBytes;
  }

  /** Bytes just checked (a transfer's): held for the next requests. */
  put(digest: string, bytes: Buffer): void {
    if (this.holds(bytes.length)) this.cache!.set(digest, bytes);
  }

  /**
   * The bytes of `digest` (whose file is `path`), read once if not held; undefined when too many
   * reads are under way. Rejects when the file is missing or its bytes are not what their name
   * says (a damaged file): the caller serves the file as it is, with its own length.
   */
  get(digest: string, path: string): Buffer | Promise<Buffer> | undefined {
    const held = this.cache?.get(digest);
    if (held) return held;
    const running = this.loading.get(digest);
    if (running) return running;
    if (this.loading.size >= MAX_LOADING) return undefined;
    const load = readFile(path).then((bytes) => {
      if (createHash('sha256').update(bytes).digest('hex') !== digest) throw new Error(`${path} does not hash to its name`);
      // Not if the file was removed while it was read (drop() forgot this read).
      if (this.loading.get(digest) === load) this.put(digest, bytes);
      return bytes;
    }).finally(() => {
      if (this.loading.get(digest) === load) this.loading.delete(digest);
    });
    this.loading.set(digest, load);
    return load;
  }

  /**
   * For a server that otherwise serves the file: the resource's bytes from memory (read into it
   * if need be), or undefined (now, or once the read failed, logged) when the file is to be served.
   */
  read(resource: { url: string; digest: string; size: number }, path: string): Buffer | Promise<Buffer | undefined> | undefined {
    if (!this.holds(resource.size)) return undefined;
    const got = this.get(resource.digest, path);
    if (!(got instanceof Promise)) return got;
    return got.catch((err: Error) => {
      this.log.warn({ event: 'resource_file_unreadable', url: resource.url, err: err.message }, `${resource.url}: its file could not be read into memory (served from the file): ${err.message}`);
      return undefined;
    });
  }

  /** The file is gone (no row names the content any more): its memory goes too. */
  drop(digest: string): void {
    this.cache?.delete(digest);
    this.loading.delete(digest);
  }

  /** Bytes and entries held (for /metrics). */
  get stats(): { bytes: number; entries: number } {
    return { bytes: this.cache?.calculatedSize ?? 0, entries: this.cache?.size ?? 0 };
  }
}
