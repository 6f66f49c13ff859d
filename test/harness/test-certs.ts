// Certificates for the front's HTTPS tests: a test CA, and leaves it signs for given DNS names
// with an RSA or ECDSA key, made with openssl (as the cluster's own are, src/certs/); and a real
// ClientHello to take apart.
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { openssl } from '../../src/certs/openssl.ts';

export interface TestCert {
  cert: string;
  key: string;
  serial: string;
}

/** A CA in `dir` (ca.pem, ca.key); returns the CA certificate's PEM, for clients to trust. */
export function makeTestCa(dir: string): string {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=cohort test CA'], dir);
  return readFileSync(join(dir, 'ca.pem'), 'utf8');
}

/** A certificate signed by the CA in `dir` for `names` (DNS subject alternative names; `IP:a.b.c.d` for an address), files named after `file`. */
export function issueTestCert(dir: string, file: string, names: string[], keyType: 'rsa' | 'ec'): TestCert {
  const key = `${file}.key`;
  const cert = `${file}.pem`;
  const newkey = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(['req', '-new', ...newkey, '-nodes', '-keyout', key, '-out', `${file}.csr`, '-subj', `/CN=${names[0].replace(/^IP:/, '')}`], dir);
  writeFileSync(join(dir, `${file}.ext`), `subjectAltName=${names.map((n) => (n.startsWith('IP:') ? n : `DNS:${n}`)).join(',')}\n`);
  openssl(['x509', '-req', '-in', `${file}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`, '-days', '1', '-extfile', `${file}.ext`, '-out', cert], dir);
  return { cert: join(dir, cert), key: join(dir, key), serial: new X509Certificate(readFileSync(join(dir, cert))).serialNumber };
}

/** A real ClientHello, as Node's TLS client sends it with these options (host and port are the capturing server's). */
export function captureHello(opts: ConnectionOptions): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = createServer((raw) => {
      raw.once('data', (chunk: Buffer) => {
        resolve(chunk);
        raw.destroy();
        server.close();
      });
    }).listen(0, '127.0.0.1', () => {
      connect({ rejectUnauthorized: false, ...opts, host: '127.0.0.1', port: (server.address() as { port: number }).port }).on('error', () => {});
    });
  });
}
