// Common Log Format access logs for trace-driven benchmarks (bench/lard.ts). A line is
// `host ident? user? [date] "METHOD /path HTTP/x" status bytes` (the EPA trace leaves out
// ident and user). Kept: GETs answered 200 with a numeric size and a path starting with '/'.
// Each distinct path is a target whose size is the largest seen for it.
import { readFileSync } from 'node:fs';

export interface Trace {
  /** The kept requests' paths, in log order. */
  requests: string[];
  /** Every target's size in bytes. */
  sizes: Map<string, number>;
  /** Sum of the targets' sizes: the bytes a cache must hold to serve every target from memory. */
  workingSetBytes: number;
  /** Lines read, and lines left out (not a 200 GET with a numeric size, or not parsed). */
  lines: number;
  skipped: number;
}

const LINE = /^\S+(?: \S+ \S+)? \[[^\]]*\] "(\S+) (.+?)(?: HTTP\/[\d.]+)?" (\d{3}) (\d+|-)\s*$/;

/** Bytes outside printable ASCII (and '#', which a client would take for a fragment) percent-encoded. */
function requestPath(raw: string): string {
  return raw.replace(/[^\x21-\x7e]|#/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function readTrace(file: string): Trace {
  // latin1: one byte, one character, whatever the log's encoding.
  const text = readFileSync(file, 'latin1');
  const requests: string[] = [];
  const sizes = new Map<string, number>();
  let lines = 0;
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    lines++;
    const m = LINE.exec(line);
    if (!m || m[1] !== 'GET' || m[3] !== '200' || m[4] === '-' || !m[2].startsWith('/')) {
      skipped++;
      continue;
    }
    const path = requestPath(m[2]);
    const size = Number(m[4]);
    requests.push(path);
    sizes.set(path, Math.max(sizes.get(path) ?? 0, size));
  }
  let workingSetBytes = 0;
  for (const s of sizes.values()) workingSetBytes += s;
  return { requests, sizes, workingSetBytes, lines, skipped };
}
