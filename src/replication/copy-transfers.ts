import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import type { BlobStore } from './blob-store.ts';
import type { CopyBudget, Room } from './copy-budget.ts';
import type { FreeSpace } from './free-space.ts';
import { checkRawHeaders } from './peer-answers.ts';
import type { VersionMeta } from './published-store.ts';
import type { RawClient } from './raw-client.ts';
import { busy } from './resource-lookups.ts';
import { encodeResourceUrl } from './resource-url.ts';

export interface CopyTransfersDeps {
  blobs: BlobStore;
  raw: RawClient;
  settings: { maxBytes: number; maxTransfers: number; transferIdleMs: number };
  /** The node's byte budget for copies and its free-space floor: a copy past either is refused (507). */
  budget: CopyBudget;
  freeSpace: FreeSpace;
  /** Writes the reads held in memory: the budget picks the least recently read copies by them. */
  flushReads: () => void;
  /** Drops the copies a room named, once the new bytes are here. */
  evict: (room: Room, meta: VersionMeta) => void;
  log: Logger;
}

/**
 * D5-D7: a version's bytes from its home into the blob store, in one of maxTransfers transfer
 * slots and within the copy budget: raw bytes into a temporary file, checked, kept.
 */
export class CopyTransfers {
  private readonly deps: CopyTransfersDeps;
  /** Transfers of bytes under way (at most settings.maxTransfers). */
  private transferring = 0;
  /** Transfers of bytes from a home since this process started (read by /metrics). */
  readonly counts = { ok: 0, failed: 0, bytes: 0 };

  constructor(deps: CopyTransfersDeps) {
    this.deps = deps;
  }

  /**
   * The bytes of `meta` from `home` into the blob store, checked (unless the same content is here
   * already). Resolves with the release of its hold on them: call it once the copy's row is added.
   * `onChecked` gets the bytes as soon as they are checked, if they were checked in memory (blob-store.ts).
   */
  async fetch(home: string, meta: VersionMeta, onChecked?: (bytes: Buffer) => void): Promise<() => void> {
    const { blobs, settings } = this.deps;
    // Whatever a home announces, no copy is larger than the largest resource a publish may make.
    if (meta.size > settings.maxBytes) {
      this.deps.log.warn({ event: 'resource_answer_refused', from: home, url: meta.url, size: meta.size }, `${home} announced ${meta.url} at ${meta.size} bytes, past resources.maxBytes: refused`);
      throw new CohortError('too_large', `${home} announced ${meta.url} at ${meta.size} bytes, larger than resources.maxBytes (${settings.maxBytes})`);
    }
    const hold = blobs.hold(meta.digest);
    const here = blobs.has(meta.digest);
    if (!here && this.transferring >= settings.maxTransfers) {
      hold();
      throw busy(`${this.transferring} transfers are in progress on this node`);
    }
    let room: Room;
    try {
      room = this.reserveRoom(meta); // after the slot check: nothing is reserved for a transfer refused
    } catch (err) {
      hold();
      throw err;
    }
    const release = () => {
      hold();
      room.release();
    };
    if (!here) {
      this.transferring++;
      try {
        await this.transfer(home, meta, release, onChecked);
      } finally {
        this.transferring--;
      }
    }
    this.deps.evict(room, meta); // only once the bytes are here: a failed transfer drops no copy
    return release;
  }

  /** One transfer of `meta`'s bytes from `home`, in a transfer slot (see fetch); calls `release` if it fails. */
  private async transfer(home: string, meta: VersionMeta, release: () => void, onChecked: ((bytes: Buffer) => void) | undefined): Promise<void> {
    const { blobs, raw, settings } = this.deps;
    let res;
    try {
      res = await raw.request(home, 'GET', `/raw${encodeResourceUrl(meta.url)}?version=${meta.version}`, { idleMs: settings.transferIdleMs });
    } catch (err) {
      release();
      this.counts.failed++;
      throw err;
    }
    try {
      checkRawHeaders(res.headers, meta, home, this.deps.log);
      (await blobs.receive(res, settings.maxBytes, { digest: meta.digest, size: meta.size }, onChecked)).release();
      this.counts.ok++;
      this.counts.bytes += meta.size;
    } catch (err) {
      release();
      this.counts.failed++;
      res.destroy();
      this.deps.log.error({ event: 'resource_transfer_failed', url: meta.url, version: meta.version, home, err: (err as Error).message }, `transfer of ${meta.url} from ${home} failed: ${(err as Error).message}`);
      // Whatever went wrong (the home went away, a digest mismatch), nothing was kept: try again later.
      throw new CohortError('con_lost', `transfer from ${home} failed: ${(err as Error).message}`);
    }
  }

  /**
   * Room for a copy of `meta` under the node's copy budget and free-space floor: which of the
   * least recently read copies must go for it (throws insufficient_storage when it cannot fit).
   */
  private reserveRoom(meta: VersionMeta): Room {
    this.deps.freeSpace.check(`a copy of ${meta.url}`, meta.size);
    this.deps.flushReads(); // least recently read by the reads up to now
    return this.deps.budget.reserve(meta.url, meta.size);
  }
}
