import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { openssl } from './openssl.ts';

// The cluster's own CA signs one certificate per node. The node id is the certificate's
// CN and the cluster name its O; peers check both, so a certificate of node B cannot stand
// in for node C. Keys are P-256: fast handshakes, small frames.

export interface NodeCertPaths {
  ca: string;
  cert: string;
  key: string;
}

export function certPaths(tlsDir: string, nodeId: string): NodeCertPaths {
  return { ca: join(tlsDir, 'ca.crt'), cert: join(tlsDir, `${nodeId}.crt`), key: join(tlsDir, `${nodeId}.key`) };
}

export interface CertsResult {
  createdCa: boolean;
  created: string[];
  kept: string[];
}

/**
 * Creates the CA (unless present) and a certificate for each node that lacks one.
 * With force, everything is made anew (and old links stop trusting old certificates).
 */
export function initClusterCerts(tlsDir: string, cluster: string, nodeIds: string[], opts: { force?: boolean } = {}): CertsResult {
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const caKey = join(tlsDir, 'ca.key');
  const caCrt = join(tlsDir, 'ca.crt');
  if (opts.force) for (const f of [caKey, caCrt, ...nodeIds.flatMap((id) => Object.values(certPaths(tlsDir, id)).slice(1))]) rmSync(f, { force: true });

  let createdCa = false;
  if (!existsSync(caKey) || !existsSync(caCrt)) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
    openssl(['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', '3650', '-subj', `/O=${cluster}/CN=cohort-ca-${cluster}`, '-out', caCrt]);
    createdCa = true;
  }
  const created: string[] = [];
  const kept: string[] = [];
  for (const id of nodeIds) {
    const p = certPaths(tlsDir, id);
    if (!createdCa && existsSync(p.cert) && existsSync(p.key)) {
      kept.push(id);
      continue;
    }
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p.key]);
    signLeaf({ caCrt, caKey, key: p.key, subject: `/O=${cluster}/CN=${id}`, usage: 'serverAuth,clientAuth', subjectAltName: `URI:cohort://${cluster}/${id}`, days: 825, out: p.cert });
    created.push(id);
  }
  rmSync(join(tlsDir, 'ca.srl'), { force: true });
  for (const f of [caKey, caCrt, ...nodeIds.flatMap((id) => [certPaths(tlsDir, id).cert, certPaths(tlsDir, id).key])]) chmodSync(f, 0o600);
  return { createdCa, created, kept };
}

/**
 * A certificate for `key` signed by the cluster CA: the subject, its extended key usage and
 * alternative names, `days` long, written to `out`. The serial is `serial` (hex), else the next
 * of the CA's serial file (made beside it; the caller removes it).
 */
export function signLeaf(o: { caCrt: string; caKey: string; key: string; subject: string; usage: string; subjectAltName: string; days: number; out: string; serial?: string }): void {
  const csr = `${o.out}.csr`;
  const ext = `${o.out}.ext`;
  try {
    openssl(['req', '-new', '-key', o.key, '-subj', o.subject, '-out', csr]);
    writeFileSync(ext, ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', `extendedKeyUsage=${o.usage}`, `subjectAltName=${o.subjectAltName}`].join('\n') + '\n');
    openssl(['x509', '-req', '-in', csr, '-CA', o.caCrt, '-CAkey', o.caKey, ...(o.serial ? ['-set_serial', `0x${o.serial}`] : ['-CAcreateserial']), '-sha256', '-days', String(o.days), '-extfile', ext, '-out', o.out]);
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
}

/** The node id and cluster a certificate names (CN and O of its subject). */
export function certIdentity(pem: string | Buffer): { node: string; cluster: string } {
  const subject = new X509Certificate(pem).subject;
  return { node: subjectField(subject, 'CN') ?? '', cluster: subjectField(subject, 'O') ?? '' };
}

export function readCertIdentity(file: string): { node: string; cluster: string } {
  return certIdentity(readFileSync(file));
}

function subjectField(subject: string, field: string): string | undefined {
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (line.slice(0, eq) === field) return line.slice(eq + 1);
  }
  return undefined;
}
