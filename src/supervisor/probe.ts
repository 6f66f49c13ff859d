import { createServer } from 'node:net';
import { httpProbe } from '../net/http-probe.ts';
import type { AppSettings } from '../config/app-schema.ts';

/** What one health probe learned: answered (status < 400), and what the app said of itself. */
export interface ProbeResult {
  ok: boolean;
  detail: string;
  /** The app declared itself DYING (an `X-Cohort-Drain` field on the answer). */
  dying: boolean;
  /** Its live sessions (`X-Cohort-Sessions: N`), or null when it does not say. */
  sessions: number | null;
}

/** One GET of the health path on a fresh connection, within timeoutMs: any answer under 400 is up. */
export async function probe(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  const r = await httpProbe({ host, port, path, timeoutMs, userAgent: 'cohort-supervisor', untilEnd: false });
  if (!r.answered) return { ok: false, detail: r.detail, dying: false, sessions: null };
  const said = String(r.headers['x-cohort-sessions'] ?? '');
  return { ok: r.status < 400, detail: `status ${r.status}`, dying: r.headers['x-cohort-drain'] !== undefined, sessions: /^\d{1,9}$/.test(said) ? Number(said) : null };
}

/** Whether host:port can be bound now (seed 001: a port that is taken is skipped). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The slot's previous port if free, else the lowest free one of the range (seed 001). */
export async function choosePort(host: string, settings: AppSettings, previous: number | undefined, taken: Set<number>): Promise<number | undefined> {
  const { basePort, portSpan } = settings;
  const candidates = previous !== undefined && previous >= basePort && previous < basePort + portSpan ? [previous] : [];
  for (let p = basePort; p < basePort + portSpan; p++) candidates.push(p);
  for (const p of candidates) {
    if (!taken.has(p) && (await portFree(host, p))) return p;
  }
  return undefined;
}
