import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { certSha256 } from '../cert-sha256.ts';
import { certIdentity, certPaths } from '../certs/cluster-certs.ts';
import { ConfigError } from '../config/host-table.ts';

/** The CA, certificate and key one node presents on its links, checked against its id. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** `pin`: the SHA-256 the host table pins for this node's certificate, if any (its peers refuse any other). */
export function loadTlsMaterial(tlsDir: string, cluster: string, nodeId: string, pin?: string): TlsMaterial {
  const paths = certPaths(tlsDir, nodeId);
  let material: TlsMaterial;
  try {
    material = { ca: readFileSync(paths.ca), cert: readFileSync(paths.cert), key: readFileSync(paths.key) };
  } catch (err) {
    throw new ConfigError(paths.cert, [`cannot read TLS files for node ${nodeId} (run 'cohort certs init'): ${(err as Error).message}`]);
  }
  const id = certIdentity(material.cert);
  if (id.node !== nodeId || id.cluster !== cluster) {
    throw new ConfigError(paths.cert, [`certificate names node '${id.node}' of cluster '${id.cluster}', expected node '${nodeId}' of cluster '${cluster}'`]);
  }
  const sha = certSha256(new X509Certificate(material.cert).fingerprint256);
  if (pin !== undefined && sha !== pin) throw new ConfigError(paths.cert, [`its SHA-256 is ${sha}, but the host table pins ${pin} for node ${nodeId} (certSha256): its peers would refuse it`]);
  return material;
}

/**
 * Does a peer certificate name the expected node of our cluster, and is it the one the host
 * table pins for that node (if it pins one)?
 */
export function identityMismatch(cert: { subject?: { CN?: unknown; O?: unknown }; fingerprint256?: string }, cluster: string, node: { id: string; certSha256?: string }): string | undefined {
  const cn = cert.subject?.CN;
  const o = cert.subject?.O;
  if (cn !== node.id || o !== cluster) return `certificate names node '${String(cn)}' of cluster '${String(o)}', expected node '${node.id}' of cluster '${cluster}'`;
  if (node.certSha256 !== undefined && certSha256(cert.fingerprint256 ?? '') !== node.certSha256) return `certificate of node '${node.id}' is not the one the host table pins for it (certSha256)`;
  return undefined;
}
