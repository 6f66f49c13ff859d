// Reading what a process logged (a pino JSON line each, app output and the odd plain line among
// them): the tests' one way to read a log file and pick its events.
import { readFileSync } from 'node:fs';

/** The log file's text so far. */
export function readLog(file: string): string {
  return readFileSync(file, 'utf8');
}

/** The JSON lines of `text` with this event, parsed, in order. */
export function logEvents(text: string, event: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
