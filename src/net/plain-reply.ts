import type { ServerResponse } from 'node:http';

/** A short text answer (an error page, a refusal); a response already under way is cut instead. */
export function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) + 1, ...headers }).end(`${text}\n`);
}
