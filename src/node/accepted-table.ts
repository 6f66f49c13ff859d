import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, findNode, loadHostTable, nodeDataDir, type HostTable } from '../config/host-table.ts';
import { pinnedOperatorKey, readSignedFile, verifySignedTable, type SignedTable, type VerifiedTable } from '../config/signed-table.ts';
import { judgeVersion } from '../config/table-change.ts';
import { CohortError } from '../errors.ts';

// The highest host table version a node accepted (issue 28), on its disk: data/<node>/host-table.yaml
// and its signature beside it. A node starts on it when it is newer than its config file (a
// version that came over a link while it ran), so a restart never goes back to an older table.

export class AcceptedTableFile {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = join(dataDir, 'host-table.yaml');
  }

  read(): SignedTable | undefined {
    if (!existsSync(this.file)) return undefined;
    return readSignedFile(this.file);
  }

  /** The signature first, then the text: each written whole (temporary file, fsync, rename). */
  write(signed: SignedTable): void {
    mkdirSync(dirname(this.file), { recursive: true });
    writeWhole(`${this.file}.sig`, `${signed.signature}\n`);
    writeWhole(this.file, signed.text);
  }
}

function writeWhole(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
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
  if (!key) return { table: fromFile, held: undefined, notes: [] };
  const check = (signed: SignedTable, where: string): VerifiedTable => {
    try {
      return verifySignedTable(signed, key, configFile);
    } catch (err) {
      if (err instanceof CohortError) throw new ConfigError(where, [err.message]);
      throw err;
    }
  };
  const store = new AcceptedTableFile(nodeDataDir(fromFile, id));
  const storedText = store.read();
  const stored = storedText && check(storedText, store.file);
  const fileText = readSignedFile(configFile);
  const file = fileText && check(fileText, configFile);
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
  if (run !== stored) store.write(run);
  return { table: run.table, held: run, notes };
}
