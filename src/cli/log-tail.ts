import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { printable } from '../supervisor/app-process.ts';

/**
 * The last errors in a process's log (pino's JSON lines at error or fatal, and stderr's own
 * lines, stack frames left out), read from the log's last 64 KiB: why a process of the demo
 * exited, where the operator sees it. Control characters are shown as '?'.
 */
export function lastErrors(log: string): string {
  let text: string;
  try {
    const fd = openSync(log, 'r');
    try {
      const size = fstatSync(fd).size;
      const length = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, size - length);
      text = buf.toString('utf8');
      if (length < size) text = text.slice(text.indexOf('\n') + 1); // the first line is cut
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
  const errors: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || /^\s+at |^Node\.js v/.test(line)) continue;
    if (!line.startsWith('{')) errors.push(line);
    else if (/"level":(50|60)\b/.test(line)) {
      try {
        const entry = JSON.parse(line) as { msg?: unknown; err?: unknown };
        errors.push([entry.msg, typeof entry.err === 'string' ? entry.err : (entry.err as { message?: unknown } | undefined)?.message].filter((x) => typeof x === 'string').join(': '));
      } catch {
        errors.push(line);
      }
    }
  }
  const shown = errors.slice(-3).map((l) => printable(l).slice(0, 500));
  return shown.length ? `; its last errors:\n  ${shown.join('\n  ')}` : '';
}
