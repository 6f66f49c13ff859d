import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, findNode, loadHostTable, nodeDataDir, type HostTable } from '../config/host-table.ts';
import { pinnedOperatorKey, readSignedFile, verifySignedFile, type SignedTable, type VerifiedTable } from '../config/signed-table.ts';
import { judgeVersion } from '../config/table-change.ts';

// The highest host table version a node accepted (issue 28), on its disk: data/<node>/host-table.json,
// its text and signature in one file written whole (temporary file, fsync, rename, the folder
// fsynced), so a crash leaves the old pair or the new one. A node starts on it when it is newer
// than its config file (a version that came over a link while it ran): a restart never goes back.

export class AcceptedTableFile {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = join(dataDir, 'host-table.json');
  }

  exists(): boolean {
    return existsSync(this.file);
  }

  read(): SignedTable | undefined {
    if (!existsSync(this.file)) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new ConfigError(this.file, [`not a host table this node accepted: ${(err as Error).message}`]);
    }
    const p = parsed as Partial<SignedTable> | null;
    if (!p || typeof p.text !== 'string' || typeof p.signature !== 'string') throw new ConfigError(this.file, ['not a host table this node accepted: { text, signature } expected']);
    return { text: p.text, signature: p.signature };
  }

  write(signed: SignedTable): void {
    const dir = dirname(this.file);
    mkdirSync(dir, { recursive: true });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ text: signed.text, signature: signed.signature }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    const d = openSync(dir, 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  }
}

export interface StartTable {
  /** The table the node runs on. */
  table: HostTable;
  /** Its signed version (undefined: no operator key is pinned, the table cannot change while running). */
  held: VerifiedTable | undefined;
  /** What a log should say of the choice. */
  notes: string[];
}

/**
 * The table node `id` starts on: its config file, or the newer version it accepted earlier.
 * Without a pinned operator key (<tls dir>/operator.pub), the file as it is (unversioned).
 * With one, the file must be signed, or an accepted version must exist; a file and an accepted
 * version of the same number with other texts stop the start (ConfigError).
 */
export function tableToRun(configFile: string, id: string): StartTable {
  const fromFile = loadHostTable(configFile);
  findNode(fromFile, id);
  const key = pinnedOperatorKey(fromFile.tlsDir);
  const store = new AcceptedTableFile(nodeDataDir(fromFile, id));
  if (!key) {
    // A node that took signed versions does not quietly fall back to an unsigned, maybe older, file.
    if (store.exists()) throw new ConfigError(join(fromFile.tlsDir, 'operator.pub'), [`missing, but ${store.file} holds a signed version this node accepted: put the operator's public key back`]);
    return { table: fromFile, held: undefined, notes: [] };
  }
  const storedText = store.read();
  const stored = storedText && verifySignedFile(storedText, key, configFile, store.file);
  const fileText = readSignedFile(configFile);
  const file = fileText && verifySignedFile(fileText, key, configFile);
  const notes: string[] = [];
  let run: VerifiedTable;
  if (!file) {
    if (!stored) throw new ConfigError(configFile, [`the operator's key is pinned (${fromFile.tlsDir}/operator.pub): the host table must be signed (cohort hosts sign), and ${configFile}.sig is missing`]);
    notes.push(`${configFile} is not signed: running on version ${stored.version}, accepted earlier`);
    run = stored;
  } else if (!stored) {
    run = file;
  } else {
    const verdict = judgeVersion(stored, file);
    if (verdict === 'take' || verdict === 'have') run = file;
    else if (file.version < stored.version) {
      notes.push(`${configFile} holds version ${file.version}; running on version ${stored.version}, accepted earlier`);
      run = stored;
    } else throw new ConfigError(configFile, [verdict]);
  }
  findNode(run.table, id);
  if (stored && (stored.table.cluster !== fromFile.cluster || stored.table.dataDir !== fromFile.dataDir)) throw new ConfigError(store.file, [`holds a table of cluster '${stored.table.cluster}' with its data in ${stored.table.dataDir}; ${configFile} says '${fromFile.cluster}', ${fromFile.dataDir}`]);
  if (run !== stored) store.write(run);
  return { table: run.table, held: run, notes };
}
