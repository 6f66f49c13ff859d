import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type * as AcmeClient from 'acme-client';
import type { AcmeSection } from '../../../config/tls-schema.ts';
import type { IssuedPem } from '../../../acme/issued-certificate.ts';

/** Where a challenge's answer is put while the CA checks it, and taken away after. */
export interface ChallengeHooks {
  /** HTTP-01: GET /.well-known/acme-challenge/<token> answers keyAuthorization. */
  http(token: string, keyAuthorization: string | undefined): Promise<void>;
  /** TLS-ALPN-01: a handshake for `name` offering acme-tls/1 gets this certificate. */
  alpn(name: string, pair: IssuedPem | undefined): Promise<void>;
}

/** The CAs the directory is reached through (trustDirectory): the system's roots until told. */
let directoryCas: string[] = [...rootCertificates];
let loaded: Promise<typeof AcmeClient> | undefined;

/**
 * acme-client, loaded on first use (a front with ACME orders now and then; its few hundred
 * modules would cost every front's start), its one axios instance set up for the directory.
 */
function acmeClient(): Promise<typeof AcmeClient> {
  loaded ??= import('acme-client').then((acme) => {
    acme.axios.defaults.httpsAgent = new Agent({ ca: directoryCas, keepAlive: true });
    acme.axios.defaults.timeout = 30_000;
    // Its own retries (429, 5xx) stay few: the front's back-off paces failed orders.
    (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 2;
    return acme;
  });
  return loaded;
}

/** The account key for a directory: a new ECDSA P-256 key, PEM. */
export async function newAccountKey(): Promise<string> {
  const acme = await acmeClient();
  return (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
}

/**
 * Trusts the directory's own CA besides the system's (a private ACME CA, Pebble in tests).
 * acme-client talks through one axios instance per process: the front has one ACME directory.
 */
export function trustDirectory(settings: AcmeSection, baseDir: string): void {
  const extra = settings.caFile ? [readFileSync(resolve(baseDir, settings.caFile), 'utf8')] : [];
  directoryCas = [...rootCertificates, ...extra];
  // Loaded already (a reload): the agent follows the new file at once.
  void loaded?.then((acme) => (acme.axios.defaults.httpsAgent = new Agent({ ca: directoryCas, keepAlive: true })));
}

/**
 * Orders one certificate for `name` (RFC 8555): account (made, or found by its key), order,
 * each authorization answered by the first of `challenges` the CA offers, CSR with a new key
 * of keyType, the chain. acme-client checks nothing itself first (skipChallengeVerification):
 * the CA's view of the name is the one that counts, and it may differ from the front's.
 */
export async function orderCertificate(opts: { settings: AcmeSection; accountKey: string; name: string; hooks: ChallengeHooks }): Promise<IssuedPem> {
  const { settings, name, hooks } = opts;
  const acme = await acmeClient();
  const client = new acme.Client({ directoryUrl: settings.directory, accountKey: opts.accountKey, backoffAttempts: 10, backoffMin: 500, backoffMax: 5000 });
  const key = settings.keyType === 'rsa' ? await acme.crypto.createPrivateRsaKey(2048) : await acme.crypto.createPrivateEcdsaKey('P-256');
  const [, csr] = await acme.crypto.createCsr({ altNames: [name] }, key);
  const cert = await client.auto({
    csr,
    email: settings.email,
    termsOfServiceAgreed: true,
    skipChallengeVerification: true,
    challengePriority: settings.challenges,
    challengeCreateFn: async (authz, challenge, keyAuthorization) => {
      // acme-client's types know http-01 and dns-01 only; the CA offers tls-alpn-01 too.
      const type = challenge.type as string;
      if (type === 'http-01') return hooks.http(challenge.token, keyAuthorization);
      if (type === 'tls-alpn-01') {
        const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
        return hooks.alpn(authz.identifier.value, { cert: alpnCert.toString(), key: alpnKey.toString() });
      }
      throw new Error(`challenge ${type} is not one the front answers`);
    },
    challengeRemoveFn: async (authz, challenge) => {
      const type = challenge.type as string;
      if (type === 'http-01') await hooks.http(challenge.token, undefined);
      else if (type === 'tls-alpn-01') await hooks.alpn(authz.identifier.value, undefined);
    },
  });
  return { cert, key: key.toString() };
}
