import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/**
 * This front's own copy of the ACME certificates it serves, one file a name (JSON of the PEM
 * pair, 0600 in a 0700 folder): a front that restarts while the ACME home is down serves them
 * at once instead of nothing. The home stays the truth: what it keeps replaces a copy when newer.
 */
export class AcmeCache {
  private readonly dir: string;
  private readonly scope: string;
  private readonly log: Logger;

  /** dir: this front's folder; directory: the CA's (a copy for one CA is never read for another). */
  constructor(dir: string, directory: string, log: Logger) {
    this.dir = dir;
    this.scope = createHash('sha256').update(directory).digest('hex').slice(0, 16);
    this.log = log;
  }

  /** The copy for `name`, unchecked (the caller checks it as it checks what the home sends), or undefined. */
  read(name: string): string | undefined {
    try {
      return readFileSync(this.file(name), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Keeps `stored` as the copy for `name` (a new file renamed over the old); a failure is logged, never thrown: the copy is a spare. */
  write(name: string, stored: string): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      chmodSync(this.dir, 0o700);
      const next = `${this.file(name)}.${process.pid}.new`;
      writeFileSync(next, stored, { mode: 0o600 });
      renameSync(next, this.file(name));
    } catch (err) {
      this.log.warn({ event: 'acme_cache_failed', name, dir: this.dir, err: (err as Error).message }, `cannot keep a copy of the certificate for ${name} in ${this.dir}: ${(err as Error).message}`);
    }
  }

  /** Removes the copies (for this CA) of names `keep` does not take, and files a crash left half written: no private key stays for a name no longer served. */
  prune(keep: (name: string) => boolean): void {
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return; // no folder yet
    }
    for (const f of files) {
      const name = f.startsWith(`${this.scope}-`) ? f.slice(this.scope.length + 1).replace(/\.json$/, '') : undefined;
      if (name === undefined || (f.endsWith('.json') && keep(name))) continue;
      rmSync(join(this.dir, f), { force: true });
    }
  }

  private file(name: string): string {
    // Names are DNS names (checked before they are followed): safe as file names.
    return join(this.dir, `${this.scope}-${name}.json`);
  }
}
