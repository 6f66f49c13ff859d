import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { connect, createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';

/**
 * What a client of a node's HTTPS port trusts (a front's upstream connections, its health
 * checks): the system's roots and the cluster CA in `tlsDir` (the roots alone when the folder has
 * none). One context, built once for many connections: a CA list parsed per connection would cost
 * each one the parsing of every root.
 */
export function clusterTrustContext(tlsDir: string): SecureContext {
  let cluster: string[] = [];
  try {
    cluster = [readFileSync(join(tlsDir, 'ca.crt'), 'utf8')];
  } catch {
    // No cluster CA here: the nodes' certificates must chain to a public one.
  }
  return createSecureContext({ ca: [...rootCertificates, ...cluster] });
}

/** A TLS connection to a node's HTTPS port: its certificate checked against `trust` and its host's name (or address: no SNI then). */
export function connectTrusted(host: string, port: number, trust: SecureContext, options: ConnectionOptions = {}): TLSSocket {
  return connect({ ...options, host, port, secureContext: trust, servername: isIP(host) ? undefined : host });
}

/** The cluster CA certificates this process trusts besides the system's, by file. */
const trusted = new Map<string, string>();

/**
 * Makes this process's fetch trust the cluster CA in `tlsDir` (its ca.crt) besides the system's
 * roots, for HTTPS certificates the cluster signs (web-certs.ts: the demo's front, a node's HTTP
 * port). Idempotent; a second cluster's CA joins the first. The agent is undici's, which Node's
 * own fetch uses.
 */
export async function trustClusterCa(tlsDir: string): Promise<void> {
  const file = join(tlsDir, 'ca.crt');
  const pem = readFileSync(file, 'utf8');
  if (trusted.get(file) === pem) return;
  trusted.set(file, pem);
  // Loaded here, by the few processes that fetch from the cluster (the demo, the scenario): its
  // hundred-odd modules would cost every node and front start.
  const { Agent, setGlobalDispatcher } = await import('undici');
  setGlobalDispatcher(new Agent({ connect: { ca: [...rootCertificates, ...trusted.values()] } }));
}
