/** A certificate's SHA-256 (X509Certificate.fingerprint256) as the host table pins it and the front reports it: lower-case hex, no colons. */
export function certSha256(fingerprint256: string): string {
  return fingerprint256.replaceAll(':', '').toLowerCase();
}
