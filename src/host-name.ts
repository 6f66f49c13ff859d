/**
 * The host of a Host field (or of an SNI name, a certificate's name), lower case, without port
 * or trailing dot: the one form routes, certificates, strict SNI and the redirect compare.
 */
export function hostName(field: string | undefined): string {
  if (!field) return '';
  const h = field.startsWith('[') ? field.slice(0, field.indexOf(']') + 1) : field.split(':')[0];
  return h.toLowerCase().replace(/\.$/, '');
}

/** A DNS name of two labels or more, lower case: letters, digits, inner hyphens, labels of 63 at most. */
export const DNS_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
