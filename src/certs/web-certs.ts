import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { DNS_NAME } from '../host-name.ts';
import { signLeaf } from './cluster-certs.ts';

// HTTPS certificates the cluster's own CA signs (cluster-certs.ts): for a front or a node's HTTP
// port where no public CA is at hand (the demo, a private network). Clients trust the CA's
// certificate (ca.crt), e.g. `curl --cacert tls/ca.crt`.

/** 397 days: the longest a browser takes from a public CA, so a habit learnt here holds there. */
const DAYS = 397;
/** A certificate this close to its end is made anew. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

export interface WebCertificate {
  cert: string;
  key: string;
  created: boolean;
}

function webCertPaths(tlsDir: string, name: string): { cert: string; key: string } {
  return { cert: join(tlsDir, 'web', `${name}.crt`), key: join(tlsDir, 'web', `${name}.key`) };
}

/**
 * The certificate `name` for `hosts` (DNS names and IP addresses), signed by the cluster CA in
 * tlsDir: kept when it is there, covers exactly these hosts, was signed by this CA and has more
 * than 30 days left; made anew otherwise (ECDSA P-256, serverAuth only).
 */
export function ensureWebCertificate(tlsDir: string, name: string, hosts: string[], opts: { force?: boolean } = {}): WebCertificate {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new Error(`${JSON.stringify(name)}: a certificate name is letters, digits, '.', '_' and '-'`);
  if (hosts.length === 0) throw new Error('a certificate needs at least one host name or address');
  const san = hosts.map((h) => {
    if (isIP(h)) return `IP:${h}`;
    const lower = h.toLowerCase();
    if (!DNS_NAME.test(lower) && lower !== 'localhost') throw new Error(`${JSON.stringify(h)}: not a DNS name or an IP address`);
    return `DNS:${lower}`;
  });
  const caCrt = join(tlsDir, 'ca.crt');
  const caKey = join(tlsDir, 'ca.key');
  if (!existsSync(caCrt) || !existsSync(caKey)) throw new Error(`no cluster CA in ${tlsDir} (run 'cohort certs init')`);
  const paths = webCertPaths(tlsDir, name);
  if (!opts.force && current(paths, caCrt, san)) return { ...paths, created: false };

  mkdirSync(join(tlsDir, 'web'), { recursive: true, mode: 0o700 });
  chmodSync(join(tlsDir, 'web'), 0o700);
  // Made beside the files in service and renamed over them, key first: a server watching them
  // never reads half a file, and the key is never readable by others, not even for a moment.
  const next = { cert: `${paths.cert}.new`, key: `${paths.key}.new` };
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(next.key, privateKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
    // A random serial (a serial file would be written beside a CA that may be read-only); positive: top bit clear.
    const serial = randomBytes(16);
    serial[0] &= 0x7f;
    signLeaf({ caCrt, caKey, key: next.key, subject: `/CN=${san[0].slice(san[0].indexOf(':') + 1)}`, usage: 'serverAuth', subjectAltName: san.join(','), days: DAYS, out: next.cert, serial: serial.toString('hex') });
    renameSync(next.key, paths.key);
    renameSync(next.cert, paths.cert);
  } finally {
    for (const f of [next.key, next.cert]) rmSync(f, { force: true });
  }
  return { ...paths, created: true };
}

/** Whether the certificate at `paths` can stay: readable, this CA's, these names, time left. */
function current(paths: { cert: string; key: string }, caCrt: string, san: string[]): boolean {
  if (!existsSync(paths.cert) || !existsSync(paths.key)) return false;
  try {
    const cert = new X509Certificate(readFileSync(paths.cert));
    const ca = new X509Certificate(readFileSync(caCrt));
    if (!cert.verify(ca.publicKey)) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    const have = (cert.subjectAltName ?? '').split(/,\s*/).map((e) => e.replace(/^IP Address:/, 'IP:')).sort();
    return JSON.stringify(have) === JSON.stringify([...san].sort());
  } catch {
    return false;
  }
}
