import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { TlsProfile } from '../config/tls-schema.ts';

/**
 * Mozilla's server-side TLS profiles (ssl-config.mozilla.org, version 5.7), as Node options.
 * "intermediate" (the default): TLS 1.2 and 1.3, AEAD suites only, the client's order (every
 * suite on the list is strong). Node's default list still has CBC suites for TLS 1.2, so the
 * list is set. The DHE suites of Mozilla's list are left out: they need a dhparam file, and
 * every client that can do TLS 1.2 can do ECDHE. "modern": TLS 1.3 only.
 */

/** Mozilla intermediate's TLS 1.2 suites less DHE (bench/tls.ts gives the same list to its peers). */
export const INTERMEDIATE_TLS12_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/** TLS 1.3's three suites (all AEAD), in Mozilla's order. */
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/**
 * Key exchange groups, client's choice among them: the hybrid post-quantum X25519MLKEM768 first
 * where this OpenSSL has it (3.5 and later; it is in its default list, which setting a list would
 * otherwise drop), then Mozilla's X25519, P-256, P-384.
 */
const GROUPS = (() => {
  const classic = 'X25519:prime256v1:secp384r1';
  try {
    createSecureContext({ ecdhCurve: `X25519MLKEM768:${classic}` });
    return `X25519MLKEM768:${classic}`;
  } catch {
    return classic;
  }
})();

export function profileOptions(profile: TlsProfile): SecureContextOptions {
  return {
    minVersion: profile === 'modern' ? 'TLSv1.3' : 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: [...TLS13_SUITES, ...(profile === 'modern' ? [] : INTERMEDIATE_TLS12_SUITES)].join(':'),
    ecdhCurve: GROUPS,
    honorCipherOrder: false,
  };
}
