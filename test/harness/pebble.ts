// Pebble, Let's Encrypt's ACME test server (Debian package `pebble`), for the front's ACME
// tests: its HTTPS certificate made here (the package ships none) by a test CA the front is told
// to trust; pebble-challtestsrv as its DNS, answering 127.0.0.1 for every name, so that Pebble
// checks the challenges against the fronts on this machine.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get } from 'node:https';
import { issueTestCert, makeTestCa } from './test-certs.ts';
import { freePorts } from './ports.ts';
import { stopProcess } from './stop.ts';
import { waitFor } from './wait.ts';

export interface PebbleOptions {
  /** Where Pebble checks HTTP-01 (a front's plain listener) and TLS-ALPN-01 (its HTTPS listener). */
  httpPort: number;
  tlsPort: number;
  /** Lifetime of the certificates it issues, in seconds (Pebble's default: 5 years). */
  validityS?: number;
  /** Percent of nonces refused as bad (Pebble's own default is 5; 0 here unless a test wants them). */
  nonceRejectPercent?: number;
  /** Names it refuses to issue for (its domainBlocklist): an order that always fails. */
  blocked?: string[];
}

export class Pebble {
  readonly directory: string;
  /** The CA of Pebble's own HTTPS certificate (PEM file): what the front's acme.caFile names. */
  readonly caFile: string;
  private readonly management: string;
  private readonly procs: ChildProcess[];
  private output = '';
  private readonly caPem: string;

  private constructor(directory: string, management: string, caFile: string, caPem: string, procs: ChildProcess[]) {
    this.directory = directory;
    this.management = management;
    this.caFile = caFile;
    this.procs = procs;
    this.caPem = caPem;
    for (const p of procs) {
      p.stdout!.on('data', (d) => (this.output += d));
      p.stderr!.on('data', (d) => (this.output += d));
    }
  }

  static async start(dir: string, opts: PebbleOptions): Promise<Pebble> {
    const caPem = makeTestCa(dir);
    const own = issueTestCert(dir, 'pebble', ['localhost', 'IP:127.0.0.1'], 'ec');
    const [acmePort, managementPort, dnsPort, challMgmtPort] = await freePorts(4);
    const config = join(dir, 'pebble-config.json');
    writeFileSync(config, JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: own.cert,
        privateKey: own.key,
        httpPort: opts.httpPort,
        tlsPort: opts.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(opts.validityS ? { certificateValidityPeriod: opts.validityS } : {}),
        ...(opts.blocked ? { domainBlocklist: opts.blocked } : {}),
      },
    }));
    // Only its DNS: every A query is answered 127.0.0.1, AAAA none (an empty -defaultIPv6).
    const dns = spawn('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${challMgmtPort}`, '-defaultIPv6', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
    const pebble = spawn('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: String(opts.nonceRejectPercent ?? 0), PEBBLE_AUTHZREUSE: '0' },
    });
    const p = new Pebble(`https://127.0.0.1:${acmePort}/dir`, `https://127.0.0.1:${managementPort}`, join(dir, 'ca.pem'), caPem, [pebble, dns]);
    await waitFor('Pebble serving its directory', async () => {
      if (pebble.exitCode !== null || dns.exitCode !== null) throw new Error(`pebble exited: ${p.output}`);
      return (await p.get(p.directory).catch(() => undefined))?.status === 200;
    }, 15_000, 100);
    return p;
  }

  /** The root that signs what it issues (it makes a new one at each start). */
  async root(): Promise<string> {
    return (await this.get(`${this.management}/roots/0`)).body;
  }

  get log(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => stopProcess(p)));
  }

  private get(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = get(url, { ca: this.caPem, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject).on('timeout', () => req.destroy(new Error('timeout')));
    });
  }
}
