import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { nodeDataDir } from '../../src/config/host-table.ts';
import type { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

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

/** GET on node `id`'s HTTP port, hashing the body as it streams (for big resources). */
export function nodeHttpDigest(c: TestCluster, id: string, path: string): Promise<{ status: number; digest: string; bytes: number }> {
  const node = c.table.nodes.find((n) => n.id === id)!;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: node.httpPort, path, agent: false }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        hash.update(d);
        bytes += d.length;
      });
      res.on('end', () => resolve({ status: res.statusCode!, digest: hash.digest('hex'), bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Node `id`'s peak resident memory so far (VmHWM), in MiB. */
export function peakRssMb(pid: number): number {
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

export function rssMb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** The resource files (named by digest) in node `id`'s blob folder, and what its tmp/ holds. */
export function blobFiles(c: TestCluster, id: string): { files: string[]; tmp: string[] } {
  const dir = join(nodeDataDir(c.table, id), 'blobs');
  return { files: readdirSync(dir).filter((f) => /^[0-9a-f]{64}$/.test(f)).sort(), tmp: readdirSync(join(dir, 'tmp')) };
}

/**
 * Waits until node `id` holds its copy of `path` (durable and named by a row): a first access is
 * answered as soon as the bytes are checked, before the copy is stored.
 */
export async function copyStored(c: TestCluster, id: string, path: string): Promise<void> {
  await waitFor(`${id} to store its copy of ${path}`, async () => (await nodeHttp(c, id, path, { method: 'HEAD' })).headers['x-cohort-source'] === 'copy', 10_000);
}
