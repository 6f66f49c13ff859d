import { z } from 'zod';
import type { CallNode } from '../client/node-connection.ts';

// The callers' side of acme-store.ts (fronts, a node serving the fronts' certificates): every
// call goes to the cluster's ACME home, and each answer is checked like any input.

const item = z.object({ value: z.string(), updatedAt: z.number() });
const maybeItem = z.union([item, z.object({}).strict()]);
const lease = z.object({ granted: z.boolean(), holder: z.string(), untilMs: z.number() });

export class AcmeItems {
  private readonly call: CallNode;
  readonly home: string;

  constructor(call: CallNode, home: string) {
    this.call = call;
    this.home = home;
  }

  async get(key: string): Promise<{ value: string; updatedAt: number } | undefined> {
    const answer = maybeItem.parse(await this.call(this.home, 'acme.get', { key }));
    return 'value' in answer ? (answer as z.infer<typeof item>) : undefined;
  }

  /** Stores; with ifAbsent the stored value wins and is answered. */
  async put(key: string, value: string, ttlMs?: number, ifAbsent = false): Promise<string> {
    return item.parse(await this.call(this.home, 'acme.put', { key, value, ttlMs, ifAbsent })).value;
  }

  async remove(key: string): Promise<void> {
    await this.call(this.home, 'acme.delete', { key });
  }

  claim(name: string, holder: string, ttlMs: number): Promise<z.infer<typeof lease>> {
    return this.call(this.home, 'acme.claim', { name, holder, ttlMs }).then((a) => lease.parse(a));
  }

  async release(name: string, holder: string): Promise<void> {
    await this.call(this.home, 'acme.release', { name, holder });
  }
}
