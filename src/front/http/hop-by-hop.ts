// Which header fields stop at the front (RFC 9110 §7.6.1): the hop-by-hop ones, and those a
// message's Connection field names, except names the front itself needs end to end.

/**
 * Hop-by-hop fields: meaningful for one connection only, never forwarded as received. Matched
 * by length first (every field of every message is asked about: a Set would hash each name).
 */
function isHopByHopName(lower: string): boolean {
  switch (lower.length) {
    case 2: return lower === 'te';
    case 7: return lower === 'trailer' || lower === 'upgrade';
    case 10: return lower === 'connection' || lower === 'keep-alive';
    case 16: return lower === 'proxy-connection';
    case 17: return lower === 'transfer-encoding';
    case 18: return lower === 'proxy-authenticate';
    case 19: return lower === 'proxy-authorization';
    default: return false;
  }
}

/**
 * Fields that frame, route or identify the message. RFC 9110 §7.6.1 forbids naming an
 * end-to-end field in Connection; a client that names one of these anyway (to have Host or
 * Content-Length dropped on the way, and the body read as a second request) is ignored for
 * it, as HAProxy and nginx ignore it: they never drop a field because Connection names it.
 */
const PROTECTED = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'cookie',
  'set-cookie',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'forwarded',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/**
 * The options of every Connection field of a message (names in lower case), less `close`,
 * `keep-alive`, `upgrade` (the front handles those itself) and protected names; undefined
 * when none is left, which is the usual case.
 */
export function connectionOptions(rawHeaders: string[], lowerNames: string[]): Set<string> | undefined {
  if (!lowerNames.includes('connection')) return undefined;
  let set: Set<string> | undefined;
  for (const t of listValues(rawHeaders, lowerNames, 'connection')) {
    if (t !== 'close' && t !== 'keep-alive' && t !== 'upgrade' && !PROTECTED.has(t)) (set ??= new Set()).add(t);
  }
  return set;
}

/** The front's own fields (X-Cohort-*): they never pass it, either way. */
export function isFrontHeader(lowerName: string): boolean {
  return lowerName.length > 9 && lowerName.startsWith('x-cohort-');
}

export function isHopByHop(lowerName: string, options: Set<string> | undefined): boolean {
  return isHopByHopName(lowerName) || (options !== undefined && options.has(lowerName));
}

/** The values of every field named `lowerName`, as received. */
export function fieldValues(rawHeaders: string[], lowerNames: string[], lowerName: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < lowerNames.length; i++) if (lowerNames[i] === lowerName) values.push(rawHeaders[2 * i + 1]);
  return values;
}

/** The comma-separated list items of every field named `lowerName`, trimmed and in lower case. */
export function listValues(rawHeaders: string[], lowerNames: string[], lowerName: string): string[] {
  const items: string[] = [];
  for (let i = 0; i < lowerNames.length; i++) {
    if (lowerNames[i] !== lowerName) continue;
    for (const item of rawHeaders[2 * i + 1].split(',')) {
      const t = item.trim().toLowerCase();
      if (t) items.push(t);
    }
  }
  return items;
}
