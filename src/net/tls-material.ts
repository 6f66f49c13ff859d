import { readFileSync } from 'node:fs';
import { certIdentity, certPaths } from '../certs/cluster-certs.ts';
import { ConfigError } from '../config/host-table.ts';

/** The CA, certificate and key one node presents on its links, checked against its id. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export function loadTlsMaterial(tlsDir: string, cluster: string, nodeId: string): TlsMaterial {
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
  return material;
}

/** Does a peer certificate's subject name the expected node of our cluster? */
export function identityMismatch(subject: { CN?: unknown; O?: unknown } | undefined, cluster: string, nodeId: string): string | undefined {
  const cn = subject?.CN;
  const o = subject?.O;
  if (cn === nodeId && o === cluster) return undefined;
  return `certificate names node '${String(cn)}' of cluster '${String(o)}', expected node '${nodeId}' of cluster '${cluster}'`;
}
