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
    const csr = join(tlsDir, `${id}.csr`);
    const ext = join(tlsDir, `${id}.ext`);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p.key]);
    openssl(['req', '-new', '-key', p.key, '-subj', `/O=${cluster}/CN=${id}`, '-out', csr]);
    writeFileSync(
      ext,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth,clientAuth',
        `subjectAltName=URI:cohort://${cluster}/${id}`,
      ].join('\n') + '\n',
    );
    openssl(['x509', '-req', '-in', csr, '-CA', caCrt, '-CAkey', caKey, '-CAcreateserial', '-sha256', '-days', '825', '-extfile', ext, '-out', p.cert]);
    rmSync(csr);
    rmSync(ext);
    created.push(id);
  }
  rmSync(join(tlsDir, 'ca.srl'), { force: true });
  for (const f of [caKey, caCrt, ...nodeIds.flatMap((id) => [certPaths(tlsDir, id).cert, certPaths(tlsDir, id).key])]) chmodSync(f, 0o600);
  return { createdCa, created, kept };
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
