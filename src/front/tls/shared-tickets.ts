import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { TicketKeyRing } from '../../tls/ticket-keys.ts';
import type { AcmeItems } from '../../acme/acme-items.ts';
import { MAX_ACME_TTL_MS } from '../../acme/acme-store.ts';

/** Asked at least this often (sooner for short rotations): a new generation's key is there before it seals. */
const MAX_POLL_MS = 30_000;

/**
 * Session ticket keys shared through the node network: each generation's key is an item on the
 * cluster's ACME home (`tickets:<generation>`), put there by whichever front asks first (a put
 * only if absent, so every front gets the same one) and learnt by the others. The next
 * generation's key is made ahead, so every front seals with it from the same moment; the keys of
 * the generations still open are fetched, so tickets sealed elsewhere open here. While the home
 * cannot be reached, the ring's stand-in keys serve (resumption on this process only).
 */
export class SharedTicketKeys {
  private readonly ring: () => TicketKeyRing | undefined;
  private readonly items: AcmeItems;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private failing = false;
  private stopped = false;

  constructor(ring: () => TicketKeyRing | undefined, items: AcmeItems, log: Logger) {
    this.ring = ring;
    this.items = items;
    this.log = log;
  }

  /** Resolves after the first round (or its failure). */
  async start(): Promise<void> {
    await this.round();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped) return; // a stop during a round: no next one
    const ring = this.ring();
    const every = Math.min(MAX_POLL_MS, Math.max(100, (ring?.rotateMs ?? MAX_POLL_MS) / 4));
    this.timer = setTimeout(() => void this.round().finally(() => this.schedule()), every);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    const ring = this.ring();
    if (!ring?.shared || this.running || this.stopped) return;
    this.running = true;
    try {
      const now = Date.now();
      const current = ring.generationAt(now);
      for (const gen of ring.unlearnt(now)) {
        const key = `tickets:${gen}`;
        // The current and the next generation's keys are made if no front made them yet; older ones only read.
        // Kept while a ticket it sealed (up to the generation's end) may still come back.
        const ttlMs = Math.min(MAX_ACME_TTL_MS, Math.max(1000, (gen + 1) * ring.rotateMs + ring.lifetimeMs - now));
        const value = gen >= current ? await this.items.put(key, randomBytes(48).toString('base64'), ttlMs, true) : (await this.items.get(key))?.value;
        if (value === undefined) continue;
        const keys = Buffer.from(value, 'base64');
        if (keys.length !== 48) throw new Error(`${key} on ${this.items.home} is not a 48-byte key`);
        ring.learn(gen, keys);
      }
      if (this.failing) this.log.info({ event: 'ticket_keys_shared', home: this.items.home }, `session ticket keys come from ${this.items.home} again`);
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.warn({ event: 'ticket_keys_unshared', home: this.items.home, err: (err as Error).message }, `session ticket keys cannot be had from ${this.items.home}: this process's own seal new tickets (they resume only here) until it answers`);
      this.failing = true;
    } finally {
      this.running = false;
    }
  }
}
