import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CohortError } from '../errors.ts';
import { ConfigError, parseHostTable, type HostTable } from './host-table.ts';

// A host table version a node may take while it runs (issue 28): the file's exact bytes and
// an Ed25519 signature over them, made with the operator's key. The signature sits beside the
// file (`<file>.sig`, base64), as signify and minisign keep theirs; every node pins the public
// key (`<tls dir>/operator.pub`, handed out with ca.crt), so a table is believed for who signed
// it, whichever peer passed it on. The private key stays with the operator.

export const OPERATOR_PUBLIC_KEY = 'operator.pub';
export const OPERATOR_PRIVATE_KEY = 'operator.key';
/** A host table is a few KiB; a frame carrying one must stay far below the link's frame limit. */
export const MAX_TABLE_BYTES = 1024 * 1024;

export interface SignedTable {
  /** The file's text, byte for byte as signed. */
  text: string;
  /** Base64 Ed25519 signature of the text's UTF-8 bytes. */
  signature: string;
}

/** A signed table that passed the signature check and the host table's own checks. */
export interface VerifiedTable extends SignedTable {
  version: number;
  /** SHA-256 of the text (hex): two tables of one version must have the same. */
  hash: string;
  table: HostTable;
}

export function signatureFile(file: string): string {
  return `${file}.sig`;
}

export function tableHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Makes the operator's key pair in the TLS folder (kept unless `force`); says whether it made one. */
export function makeOperatorKey(tlsDir: string, opts: { force?: boolean } = {}): { created: boolean; publicKey: string; privateKey: string } {
  const publicKey = join(tlsDir, OPERATOR_PUBLIC_KEY);
  const privateKey = join(tlsDir, OPERATOR_PRIVATE_KEY);
  if (!opts.force && existsSync(publicKey) && existsSync(privateKey)) return { created: false, publicKey, privateKey };
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const pair = generateKeyPairSync('ed25519');
  writeFileSync(privateKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(publicKey, pair.publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  return { created: true, publicKey, privateKey };
}

/** The operator's public key this node pins, or undefined: then its host table cannot change while it runs. */
export function pinnedOperatorKey(tlsDir: string): KeyObject | undefined {
  const file = join(tlsDir, OPERATOR_PUBLIC_KEY);
  if (!existsSync(file)) return undefined;
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(file));
  } catch (err) {
    throw new ConfigError(file, [`not a public key: ${(err as Error).message}`]);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError(file, [`an ${key.asymmetricKeyType} key; the operator's key is Ed25519`]);
  return key;
}

/** Signs a table's text with the operator's private key (a PEM file). */
export function signTable(text: string, privateKeyFile: string): SignedTable {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(privateKeyFile));
  } catch (err) {
    throw new ConfigError(privateKeyFile, [`cannot read the operator's private key: ${(err as Error).message}`]);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError(privateKeyFile, [`an ${key.asymmetricKeyType} key; the operator's key is Ed25519`]);
  return { text, signature: sign(null, Buffer.from(text, 'utf8'), key).toString('base64') };
}

/**
 * Checks a signed table as it arrives (from a file, an operator, a peer): its size, the
 * signature against the pinned key, then the host table's own checks, and that it has a
 * version. `file` anchors the table's relative folders (the node's own host table file).
 * Throws a CohortError (refused, bad_args) that says why; nothing is changed.
 */
export function verifySignedTable(signed: SignedTable, key: KeyObject, file: string): VerifiedTable {
  if (Buffer.byteLength(signed.text, 'utf8') > MAX_TABLE_BYTES) throw new CohortError('bad_args', `a host table of more than ${MAX_TABLE_BYTES} bytes`);
  const signature = Buffer.from(signed.signature, 'base64');
  if (signature.length !== 64 || signature.toString('base64') !== signed.signature.trim()) throw new CohortError('refused', 'the signature is not 64 bytes of base64');
  if (!verify(null, Buffer.from(signed.text, 'utf8'), key, signature)) throw new CohortError('refused', "the signature does not match the operator's key (altered, or signed with another key)");
  let table: HostTable;
  try {
    table = parseHostTable(file, signed.text);
  } catch (err) {
    if (err instanceof ConfigError) throw new CohortError('bad_args', `signed, but not a host table that can be used: ${err.problems.join('; ')}`);
    throw err;
  }
  if (table.version < 1) throw new CohortError('refused', 'signed, but it has no version');
  return { text: signed.text, signature: signed.signature.trim(), version: table.version, hash: tableHash(signed.text), table };
}

/** verifySignedTable for a file a process starts or reloads on: a refusal is that file's ConfigError (`where`: the file named). */
export function verifySignedFile(signed: SignedTable, key: KeyObject, file: string, where = file): VerifiedTable {
  try {
    return verifySignedTable(signed, key, file);
  } catch (err) {
    if (err instanceof CohortError) throw new ConfigError(where, [err.message]);
    throw err;
  }
}

/** Reads a table file and its signature file (`<file>.sig`); undefined when there is no signature. */
export function readSignedFile(file: string): SignedTable | undefined {
  const sig = signatureFile(file);
  if (!existsSync(sig)) return undefined;
  try {
    return { text: readFileSync(file, 'utf8'), signature: readFileSync(sig, 'utf8').trim() };
  } catch (err) {
    throw new ConfigError(file, [`cannot read: ${(err as Error).message}`]);
  }
}
