import { request } from 'node:http';
import type { TestCluster } from '../harness/cluster.ts';

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP request to node `id`'s HTTP port (a raw path: sent as written). */
export function nodeHttp(c: TestCluster, id: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<HttpReply> {
  const node = c.table.nodes.find((n) => n.id === id)!;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: node.httpPort, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Lines of node `id`'s log with this event. */
export function events(c: TestCluster, id: string, event: string): Record<string, unknown>[] {
  return c
    .log(id)
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
