import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/** Changes closer together than this are one (a renewal writes a certificate, then its key)... */
const SETTLE_MS = 300;
/** ...but a stream of changes is read at least this often, not put off for ever. */
const MAX_WAIT_MS = 3000;

/**
 * Watches the front's certificate and key files and calls `changed` once they settle, so a
 * renewed certificate (certbot, an ACME client, an operator's copy) is served without a reload.
 * It watches their folders, not the files: a renewal that writes a new file and renames it over
 * the old one replaces the inode a file watch would hold.
 */
export class CertificateWatch {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the first change not yet read came (0: none waiting). */
  private firstChange = 0;

  constructor(files: string[], changed: () => void) {
    const names = new Map<string, Set<string>>();
    for (const f of files) names.set(dirname(f), (names.get(dirname(f)) ?? new Set()).add(basename(f)));
    for (const [dir, wanted] of names) {
      const watcher = watch(dir, (_event, name) => {
        if (name !== null && !wanted.has(name)) return;
        const now = Date.now();
        this.firstChange ||= now;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          this.firstChange = 0;
          changed();
        }, Math.max(0, Math.min(SETTLE_MS, this.firstChange + MAX_WAIT_MS - now)));
      });
      watcher.on('error', () => {}); // a folder that went away: nothing to watch until the next reload
      this.watchers.push(watcher);
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
  }
}
