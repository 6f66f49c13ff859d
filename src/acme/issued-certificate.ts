import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import type { HostTable } from '../config/host-table.ts';

// What fronts and nodes share of an ACME certificate kept in the node network: where it is
// (which node, which item) and how a stored one is read and checked before it is served.

/** A certificate chain and its key, PEM, as a CA issued them. */
export interface IssuedPem {
  cert: string;
  key: string;
}

/** An issued certificate read and checked: its PEM and its figures. */
export interface HeldCertificate {
  pem: IssuedPem;
  serial: string;
  notBefore: number;
  notAfter: number;
}

/**
 * The node that keeps the cluster's ACME state: the one named in acme.home, else the host
 * table's first library node (library nodes keep what lasts), else its first node. One node for
 * every front, so a lease on a name is one row: two fronts never both order it.
 */
export function acmeHome(table: HostTable, configured: string | undefined): string {
  return configured ?? (table.nodes.find((n) => n.role === 'library') ?? table.nodes[0]).id;
}

/** An item's key on the home: its kind, then the directory's hash (what is stored for one CA is never served for another), then its subject. */
export function acmeItemKey(directory: string, kind: string, subject: string): string {
  return `${kind}:${createHash('sha256').update(directory).digest('hex').slice(0, 16)}/${subject}`;
}

/**
 * What a front or a node takes up of a stored certificate (JSON of IssuedPem): one for `name`
 * with its key, still valid, and newer than the one it holds; undefined for anything else.
 */
export function newerIssued(stored: string | undefined, name: string, held: HeldCertificate | undefined): HeldCertificate | undefined {
  const found = readIssued(stored, name);
  return found && found.notAfter > Date.now() && (!held || found.notAfter > held.notAfter) ? found : undefined;
}

/** A stored certificate (JSON of IssuedPem), if it is one for `name` with its key; undefined for anything else. */
function readIssued(stored: string | undefined, name: string): HeldCertificate | undefined {
  if (stored === undefined) return undefined;
  try {
    const pem = JSON.parse(stored) as IssuedPem;
    return typeof pem?.cert === 'string' && typeof pem.key === 'string' ? checkIssued(pem, name) : undefined;
  } catch {
    return undefined;
  }
}

/** The certificate's figures, or undefined if it is not a certificate for `name` with its key. */
export function checkIssued(pem: IssuedPem, name: string): HeldCertificate | undefined {
  try {
    const leaf = new X509Certificate(pem.cert);
    if (leaf.checkHost(name) === undefined || !leaf.checkPrivateKey(createPrivateKey(pem.key))) return undefined;
    return { pem, serial: leaf.serialNumber, notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo) };
  } catch {
    return undefined;
  }
}
