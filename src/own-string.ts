/**
 * A copy of a string that holds only its own characters. A piece cut from a longer string
 * (a path without its query, a cookie out of a Cookie header) keeps the whole of that string
 * alive in V8 for as long as the piece lives: a map that keeps such pieces as keys would hold
 * each client's whole request line or header, whatever its bound in entries.
 * For keys stored once (a new entry), never on every request.
 */
export function ownString(s: string): string {
  return Buffer.from(s, 'utf16le').toString('utf16le');
}
