import { hkdfSync, randomBytes } from 'node:crypto';

/** One session ticket key as node:tls takes it: 16 bytes of name, 16 of HMAC secret, 16 of AES key. */
export interface TicketKey {
  /** The key's name, hex: OpenSSL writes it at the head of every ticket it seals with the key. */
  name: string;
  keys: Buffer;
}

export interface TicketSettings {
  /** Shared by every front of the cluster (the host table's): fronts that hold the same secret resume each other's sessions. */
  secret: string | undefined;
  /**
   * Without a secret: each generation's key is a random one kept in the node network, learnt by
   * every front (shared-tickets.ts); until it is learnt, a random key of this process stands in.
   */
  shared?: boolean;
  /** A new key seals tickets every rotateMs. */
  rotateMs: number;
  /** A ticket resumes for this long: the keys of the generations before the current one stay to open tickets this old. */
  lifetimeMs: number;
}

/**
 * The front's session ticket keys, rotated with overlap (Caddy's and HAProxy's practice): the
 * current generation's key seals new tickets, the previous ones still open tickets within their
 * lifetime. Each generation's key is derived from the cluster's secret (HKDF-SHA256 over the
 * generation number), so every front process of every front that holds the secret has the same
 * keys at the same time without a word between them, and a process that restarts has them back.
 * Shared (no secret, a front with a node): each generation's key is random, made by whichever
 * front first asks the node network for it and learnt from there by every other (Caddy's STEKs in
 * its storage): no secret in the host table, and a key once past its lifetime is gone for good.
 * Neither: one random key for the process's life (resumption on this process only).
 */
export class TicketKeyRing {
  private readonly settings: TicketSettings;
  private readonly cache = new Map<number, TicketKey>();
  /** Shared keys: the generations whose key came from the node network (the others' are this process's stand-ins). */
  private readonly learnt = new Set<number>();
  private readonly random: TicketKey | undefined;

  constructor(settings: TicketSettings) {
    this.settings = settings;
    if (settings.secret === undefined && !settings.shared) {
      const keys = randomBytes(48);
      this.random = { name: keys.subarray(0, 16).toString('hex'), keys };
    }
  }

  /** Whether these settings would make the same keys (a reload that left them alone keeps this ring). */
  sameAs(settings: TicketSettings): boolean {
    const s = this.settings;
    return s.secret === settings.secret && !s.shared === !settings.shared && s.rotateMs === settings.rotateMs && s.lifetimeMs === settings.lifetimeMs;
  }

  get shared(): boolean {
    return this.settings.shared === true && this.settings.secret === undefined;
  }

  get rotateMs(): number {
    return this.settings.rotateMs;
  }

  /** How long a ticket resumes after it was sealed. */
  get lifetimeMs(): number {
    return this.settings.lifetimeMs;
  }

  /** The generation `now` falls in. */
  generationAt(now = Date.now()): number {
    return Math.floor(now / this.settings.rotateMs);
  }

  /** Shared keys: the generations, from the oldest still open to the next one, whose key the node network has not given yet. */
  unlearnt(now = Date.now()): number[] {
    const gen = this.generationAt(now);
    const out: number[] = [];
    for (let g = gen - this.keptGenerations; g <= gen + 1; g++) if (!this.learnt.has(g)) out.push(g);
    return out;
  }

  /** Shared keys: generation `gen`'s key as the node network keeps it (48 bytes); it replaces the stand-in. */
  learn(gen: number, keys: Buffer): void {
    if (keys.length !== 48) throw new Error('a ticket key is 48 bytes');
    this.cache.set(gen, { name: keys.subarray(0, 16).toString('hex'), keys });
    this.learnt.add(gen);
    this.forgetBefore(gen);
  }

  /** The key that seals new tickets now. */
  current(now = Date.now()): TicketKey {
    return this.random ?? this.generation(this.generationAt(now));
  }

  /** The key named in a client's ticket, if it is one of the generations still open. */
  find(name: string, now = Date.now()): TicketKey | undefined {
    if (this.random) return this.random.name === name ? this.random : undefined;
    const gen = this.generationAt(now);
    for (let g = gen; g >= gen - this.keptGenerations; g--) {
      const key = this.generation(g);
      if (key.name === name) return key;
    }
    return undefined;
  }

  /** Generations before the current one whose tickets may still be within their lifetime. */
  private get keptGenerations(): number {
    return Math.ceil(this.settings.lifetimeMs / this.settings.rotateMs);
  }

  private generation(gen: number): TicketKey {
    let key = this.cache.get(gen);
    if (!key) {
      const secret = this.settings.secret;
      const keys = secret === undefined ? randomBytes(48) : Buffer.from(hkdfSync('sha256', secret, 'cohort tls session tickets', `generation ${gen}`, 48));
      key = { name: keys.subarray(0, 16).toString('hex'), keys };
      this.cache.set(gen, key);
      this.forgetBefore(gen);
    }
    return key;
  }

  /** Only the generations that can still open a ticket are kept. */
  private forgetBefore(gen: number): void {
    for (const g of this.cache.keys()) {
      if (g < gen - this.keptGenerations - 1) {
        this.cache.delete(g);
        this.learnt.delete(g);
      }
    }
  }
}
