import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { hostName } from '../host-name.ts';
import type { ClientHello } from './client-hello.ts';
import type { TlsProfile } from '../config/tls-schema.ts';
import { profileOptions } from './profiles.ts';
import { certSha256 } from '../cert-sha256.ts';
import type { TicketKey, TicketKeyRing } from './ticket-keys.ts';

export interface CertificateFiles {
  /** PEM: the certificate, then its chain. */
  cert: string;
  /** PEM: its private key. */
  key: string;
}

/** What an operator sees of one certificate (status, logs). */
export interface CertificateSummary {
  file: string;
  names: string[];
  keyType: string;
  serial: string;
  notAfter: string;
  /** SHA-256 of the certificate, hex. */
  fingerprint: string;
}

interface Pair {
  cert: string;
  key: string;
  keyType: string;
}

/** A certificate file the front cannot serve: which one, and why. */
export class CertificateError extends Error {}

/**
 * One certificate's TLS contexts, one per session ticket key in use: a context seals and opens
 * tickets with one key only, so a client that offers a ticket sealed by an earlier generation's
 * key gets the context of that key (ticket-keys.ts), everyone else the current one.
 */
class CertificateContexts {
  private readonly options: SecureContextOptions;
  private readonly lifetimeS: number;
  private readonly byKey = new Map<string, SecureContext>();

  constructor(options: SecureContextOptions, lifetimeS: number, current: TicketKey) {
    this.options = options;
    this.lifetimeS = lifetimeS;
    this.get(current); // a file that cannot be served throws here, at the reload
  }

  get(key: TicketKey): SecureContext {
    let context = this.byKey.get(key.name);
    if (context) return context;
    context = createSecureContext({ ...this.options, ticketKeys: key.keys });
    // How long a session resumes (node's tls.Server sets it on its own context; the front builds its own).
    (context as unknown as { context: { setSessionTimeout(s: number): void } }).context.setSessionTimeout(this.lifetimeS);
    // The generations still open are few (ticket-keys.ts); the oldest context goes past them.
    if (this.byKey.size >= 8) this.byKey.delete(this.byKey.keys().next().value!);
    this.byKey.set(key.name, context);
    return context;
  }
}

/** A name's certificates: at most one per key type; ECDSA with the TLS 1.3 signature scheme of its curve. */
interface Entry {
  ecdsa?: { contexts: CertificateContexts; curve: Curve | undefined };
  rsa?: CertificateContexts;
  /** Any other key type (Ed25519...), served as it is. */
  other?: CertificateContexts;
}

/** ECDHE_ECDSA suites of the intermediate profile (AES-GCM, ChaCha20-Poly1305): what a TLS 1.2 client needs for an ECDSA certificate. */
const ECDSA_TLS12_SUITES = [0xc02b, 0xc02c, 0xcca9];
/** An ECDSA key's curve as TLS names it: its group (RFC 8422 §5.1.1) and its TLS 1.3 signature scheme (RFC 8446 §4.2.3). */
interface Curve {
  group: number;
  scheme: number;
}
const CURVES: Record<string, Curve> = { prime256v1: { group: 23, scheme: 0x0403 }, secp384r1: { group: 24, scheme: 0x0503 }, secp521r1: { group: 25, scheme: 0x0603 } };
/** ECDSA with SHA-256 or stronger: OpenSSL 3 refuses SHA-1 signatures at its default security level. */
const ECDSA_SHA2 = [0x0403, 0x0503, 0x0603];
/** The Ed25519 signature scheme (RFC 8446 §4.2.3). */
const ED25519 = 0x0807;

/**
 * The front's certificates, read from files and checked (each key matches its certificate),
 * with a TLS context each (HAProxy's crt-list, without the list file). The names are the
 * certificates' DNS subject alternative names (the common name only when a certificate has none,
 * as RFC 6125 says). The client's hello (client-hello.ts) picks: its SNI name exactly, else a
 * wildcard one label deep (`*.example.org` for `a.example.org`), else the default (the first
 * certificate's name), or none at all under strict SNI; then, when the name has both, the ECDSA
 * certificate if the client can verify it, else the RSA one. Built whole before it is used: a
 * reload with a bad file throws here and the set in service stays.
 */
export class CertificateSet {
  readonly summary: CertificateSummary[] = [];
  private readonly byName = new Map<string, Entry>();
  /** The IP addresses its certificates are for (no SNI names one: a redirect may still send a client there). */
  private readonly addresses = new Set<string>();
  private defaultEntry: Entry | undefined;
  /** The first certificate's PEM pair: what node:tls serves a client that names no host (a node's port; the front picks from the hello). */
  defaultPair: CertificateFiles | undefined;
  /** The session ticket keys its contexts seal and open tickets with. */
  readonly tickets: TicketKeyRing;

  /** files: read from disk (the first is the default); issued: PEM pairs ACME issued (acme/), after them. */
  constructor(files: CertificateFiles[], baseDir: string, profile: TlsProfile, tickets: TicketKeyRing, sessionLifetimeS: number, issued: CertificateFiles[] = []) {
    this.tickets = tickets;
    const common = profileOptions(profile);
    const current = tickets.current();
    const sources = [...files.map((f) => () => readPair(resolve(baseDir, f.cert), resolve(baseDir, f.key))), ...issued.map((p) => () => checkPair(p.cert, p.key, 'ACME certificate', 'its key'))];
    for (const source of sources) {
      const { pair, names, summary, curve, addresses } = source();
      this.summary.push(summary);
      for (const a of addresses) this.addresses.add(a);
      this.defaultPair ??= { cert: pair.cert, key: pair.key };
      let context: CertificateContexts;
      try {
        // A session (ticket) resumes only under the certificate it began with (RFC 6066 §3: never under another name).
        context = new CertificateContexts({ ...common, cert: pair.cert, key: pair.key, sessionIdContext: summary.fingerprint.slice(0, 32) }, sessionLifetimeS, current);
      } catch (err) {
        throw new CertificateError(`${summary.file}: ${(err as Error).message}`);
      }
      // A certificate for IP addresses only has no name to be found under: it can only be the default.
      if (names.length === 0 && this.summary.length > 1) throw new CertificateError(`${summary.file}: names no host (no DNS subject alternative name, no common name); only the first (default) certificate may be for IP addresses only`);
      const add = (entry: Entry) => {
        // One certificate per key type a name: the first listed wins.
        if (pair.keyType === 'ec') entry.ecdsa ??= { contexts: context, curve: curve ? CURVES[curve] : undefined };
        else if (pair.keyType === 'rsa' || pair.keyType === 'rsa-pss') entry.rsa ??= context;
        else entry.other ??= context;
        return entry;
      };
      for (const name of names) this.byName.set(name, add(this.byName.get(name) ?? {}));
      if (this.summary.length === 1 && names.length === 0) this.defaultEntry = add({});
    }
    // The default: the first certificate's (with the other key types its first name has); none before ACME's first.
    if (this.summary.length > 0) this.defaultEntry ??= this.byName.get(this.summary[0].names[0])!;
  }

  /**
   * The context for a client's hello; undefined under strict SNI when its name (or its lack of
   * one) has no certificate. Its ticket key is the one the client's ticket names while that
   * generation is still open, else the current one.
   */
  pick(hello: ClientHello, strictSni: boolean): SecureContext | undefined {
    const certificate = this.certificateFor(hello, strictSni);
    if (!certificate) return undefined;
    const offered = hello.ticketKeyName === undefined ? undefined : this.tickets.find(hello.ticketKeyName);
    return certificate.get(offered ?? this.tickets.current());
  }

  private certificateFor(hello: ClientHello, strictSni: boolean): CertificateContexts | undefined {
    const entry = (hello.serverName === undefined ? undefined : this.lookup(hello.serverName)) ?? (strictSni ? undefined : this.defaultEntry);
    if (!entry) return undefined;
    if (entry.ecdsa && acceptsEcdsa(hello, entry.ecdsa.curve)) return entry.ecdsa.contexts;
    if (entry.other && !entry.rsa && hello.sigalgs.includes(ED25519)) return entry.other;
    return entry.rsa ?? entry.other ?? entry.ecdsa?.contexts;
  }

  /**
   * The context for an SNI name alone (node:tls's SNICallback, where the hello's other fields
   * are not at hand): the name's ECDSA certificate, else its RSA one, else the default's.
   */
  forName(name: string): SecureContext | undefined {
    const entry = this.lookup(hostName(name)) ?? this.defaultEntry;
    const certificate = entry && (entry.ecdsa?.contexts ?? entry.rsa ?? entry.other);
    return certificate?.get(this.tickets.current());
  }

  /** Whether a host name (hostName's form) has a certificate of its own (not the default's): where a redirect may send a client. */
  serves(name: string): boolean {
    return this.lookup(name) !== undefined || this.addresses.has(name);
  }

  private lookup(name: string): Entry | undefined {
    const exact = this.byName.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return dot > 0 ? this.byName.get(`*${name.slice(dot)}`) : undefined;
  }
}

/**
 * Whether a client can take an ECDSA certificate on `curve`: TLS 1.3, the curve's signature
 * scheme; TLS 1.2, an ECDHE-ECDSA suite, an ECDSA signature with SHA-2, and the curve among its
 * groups (RFC 8422 §4; a client that lists none is taken to have the usual ones).
 */
function acceptsEcdsa(hello: ClientHello, curve: Curve | undefined): boolean {
  if (curve === undefined) return false;
  if (hello.versions.includes(0x0304)) return hello.sigalgs.includes(curve.scheme);
  if (!hello.ciphers.some((c) => ECDSA_TLS12_SUITES.includes(c))) return false;
  if (hello.sigalgs.length > 0 && !hello.sigalgs.some((s) => ECDSA_SHA2.includes(s))) return false;
  return hello.groups.length === 0 || hello.groups.includes(curve.group);
}

interface CheckedPair {
  pair: Pair;
  names: string[];
  /** Its IP address subject alternative names, as a Host field names them (IPv6 in brackets). */
  addresses: string[];
  summary: CertificateSummary;
  curve: string | undefined;
}

function readPair(certFile: string, keyFile: string): CheckedPair {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new CertificateError(`${file}: cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  return checkPair(read(certFile, 'certificate'), read(keyFile, 'private key'), certFile, keyFile);
}

/** A PEM certificate and its key, checked; certFile and keyFile say where they came from. */
function checkPair(cert: string, key: string, certFile: string, keyFile: string): CheckedPair {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new CertificateError(`${certFile}: not a PEM certificate (${(err as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new CertificateError(`${keyFile}: not a PEM private key (${(err as Error).message})`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new CertificateError(`${keyFile} is not the key of ${certFile}`);
  const names = namesOf(leaf);
  if (names.length === 0 && !leaf.subjectAltName?.includes('IP Address:')) throw new CertificateError(`${certFile}: names no host (no DNS subject alternative name, no common name)`);
  const keyType = leaf.publicKey.asymmetricKeyType ?? 'unknown';
  return {
    pair: { cert, key, keyType },
    curve: leaf.publicKey.asymmetricKeyDetails?.namedCurve,
    names,
    addresses: (leaf.subjectAltName ?? '').split(/,\s*/).filter((e) => e.startsWith('IP Address:')).map((e) => hostName(e.includes(':', 11) ? new URL(`http://[${e.slice(11)}]`).host : e.slice(11))),
    summary: { file: certFile, names, keyType, serial: leaf.serialNumber, notAfter: new Date(leaf.validTo).toISOString(), fingerprint: certSha256(leaf.fingerprint256) },
  };
}

/** The DNS names a certificate is for: its subject alternative names, or its common name when it has none. */
function namesOf(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san) {
    return san
      .split(/,\s*/)
      .filter((entry) => entry.startsWith('DNS:'))
      .map((entry) => hostName(entry.slice(4)));
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn ? [hostName(cn)] : [];
}
