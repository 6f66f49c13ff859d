import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import { CohortError } from '../errors.ts';

// What fronts keep in the node network for ACME (src/front/tls/acme/): the account key, each
// name's certificate, the challenges in flight, and a lease per name so that exactly one front
// orders a certificate while the others wait for it. Every front asks the same node (the
// cluster's ACME home, acme-home.ts): the lease is one row there, taken in one statement.

/** A key: its kind, a colon, then what it is about (a name, a token); printable ASCII only. */
const key = z.string().regex(/^[a-z0-9-]{1,40}:[\x21-\x7e]{1,300}$/, 'an ACME item key is "kind:subject", printable ASCII');
/** A certificate chain with its key fits; anything larger is not an ACME item. */
export const MAX_ACME_VALUE_BYTES = 64 * 1024;
/** The longest an item with a lifetime lives (challenges, failure records, ticket keys). */
export const MAX_ACME_TTL_MS = 7 * 86_400_000;
/** Items kept at most: past it a put is refused (expired challenges are pruned first). */
const MAX_ACME_ITEMS = 10_000;
const holder = z.string().min(1).max(200);

const getArgs = z.strictObject({ key });
const putArgs = z.strictObject({
  key,
  value: z.string().max(MAX_ACME_VALUE_BYTES),
  /** Gone after this long (challenges); kept until replaced without it. */
  ttlMs: z.number().int().min(1000).max(MAX_ACME_TTL_MS).optional(),
  /** Only if no live item has the key: the stored one is answered (two fronts making the account key agree on one). */
  ifAbsent: z.boolean().default(false),
});
const claimArgs = z.strictObject({ name: key, holder, ttlMs: z.number().int().min(1000).max(86_400_000) });
const releaseArgs = z.strictObject({ name: key, holder });

interface AcmeItem {
  value: string;
  updatedAt: number;
}

interface Lease {
  granted: boolean;
  holder: string;
  untilMs: number;
}

/** The ACME items and leases a node keeps for the fronts, in its own database. */
export class AcmeStore {
  private readonly db: DatabaseSync;
  private readonly select: StatementSync;
  private readonly upsert: StatementSync;
  private readonly insertIfAbsent: StatementSync;
  private readonly prune: StatementSync;
  private readonly deleteItem: StatementSync;
  private readonly count: StatementSync;
  private readonly claimLease: StatementSync;
  private readonly selectLease: StatementSync;
  private readonly deleteLease: StatementSync;
  private readonly now: () => number;

  constructor(db: DatabaseSync, now: () => number = Date.now) {
    this.db = db;
    this.now = now;
    db.exec(`CREATE TABLE IF NOT EXISTS acme_items (
      key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER
    ) STRICT;
    CREATE TABLE IF NOT EXISTS acme_leases (
      name TEXT PRIMARY KEY, holder TEXT NOT NULL, until_ms INTEGER NOT NULL
    ) STRICT;`);
    this.select = db.prepare('SELECT value, updated_at FROM acme_items WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)');
    this.upsert = db.prepare(`INSERT INTO acme_items (key, value, updated_at, expires_at) VALUES (:key, :value, :now, :expires)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, expires_at = excluded.expires_at`);
    this.insertIfAbsent = db.prepare(`INSERT INTO acme_items (key, value, updated_at, expires_at) VALUES (:key, :value, :now, :expires)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, expires_at = excluded.expires_at
      WHERE acme_items.expires_at IS NOT NULL AND acme_items.expires_at <= :now`);
    this.prune = db.prepare('DELETE FROM acme_items WHERE expires_at IS NOT NULL AND expires_at <= ?');
    this.deleteItem = db.prepare('DELETE FROM acme_items WHERE key = ?');
    this.count = db.prepare('SELECT count(*) AS n FROM acme_items');
    // One statement: a lease that is free, expired or already the caller's is taken; else nothing changes.
    this.claimLease = db.prepare(`INSERT INTO acme_leases (name, holder, until_ms) VALUES (:name, :holder, :until)
      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
      WHERE acme_leases.until_ms <= :now OR acme_leases.holder = excluded.holder`);
    this.selectLease = db.prepare('SELECT holder, until_ms FROM acme_leases WHERE name = ?');
    this.deleteLease = db.prepare('DELETE FROM acme_leases WHERE name = ? AND holder = ?');
  }

  get(key: string): AcmeItem | undefined {
    const row = this.select.get(key, this.now()) as { value: string; updated_at: number } | undefined;
    return row && { value: row.value, updatedAt: row.updated_at };
  }

  /** Stores an item; with ifAbsent, only where no live one is, and answers what is stored either way. */
  put(args: z.output<typeof putArgs>): AcmeItem {
    if (Buffer.byteLength(args.value) > MAX_ACME_VALUE_BYTES) throw new CohortError('too_large', `an ACME item is at most ${MAX_ACME_VALUE_BYTES} bytes`);
    const now = this.now();
    const row = { key: args.key, value: args.value, now, expires: args.ttlMs === undefined ? null : now + args.ttlMs };
    if (this.get(args.key) === undefined) {
      this.prune.run(now);
      if (Number((this.count.get() as { n: number }).n) >= MAX_ACME_ITEMS) throw new CohortError('insufficient_storage', `this node keeps at most ${MAX_ACME_ITEMS} ACME items`);
    }
    (args.ifAbsent ? this.insertIfAbsent : this.upsert).run(row);
    return this.get(args.key)!;
  }

  remove(key: string): boolean {
    return Number(this.deleteItem.run(key).changes) > 0;
  }

  claim(name: string, holder: string, ttlMs: number): Lease {
    const now = this.now();
    this.claimLease.run({ name, holder, until: now + ttlMs, now });
    const row = this.selectLease.get(name) as { holder: string; until_ms: number };
    return { granted: row.holder === holder, holder: row.holder, untilMs: row.until_ms };
  }

  release(name: string, holder: string): boolean {
    return Number(this.deleteLease.run(name, holder).changes) > 0;
  }
}

/**
 * acme.*: the operator's (fronts and the CLI) only, never an app's: the items hold the account's
 * and the certificates' private keys.
 */
export function registerAcmeCommands(registry: CommandRegistry, store: AcmeStore): void {
  registry.register({
    name: 'acme.get',
    summary: 'an ACME item this node keeps for the fronts (account key, certificate, challenge): {value, updatedAt}, or {} if none',
    args: getArgs,
    scope: 'operator',
    run: (args) => store.get(args.key) ?? {},
  });
  registry.register({
    name: 'acme.put',
    summary: 'stores an ACME item {key, value, ttlMs?, ifAbsent?}; answers what is stored',
    args: putArgs,
    scope: 'operator',
    run: (args) => store.put(args),
  });
  registry.register({
    name: 'acme.delete',
    summary: 'removes an ACME item {key}',
    args: getArgs,
    scope: 'operator',
    run: (args) => ({ removed: store.remove(args.key) }),
  });
  registry.register({
    name: 'acme.claim',
    summary: 'takes the lease on ordering a name\'s certificate {name, holder, ttlMs} if it is free, expired or already the holder\'s: {granted, holder, untilMs}',
    args: claimArgs,
    scope: 'operator',
    run: (args) => store.claim(args.name, args.holder, args.ttlMs),
  });
  registry.register({
    name: 'acme.release',
    summary: 'gives up the lease on a name, if the holder holds it',
    args: releaseArgs,
    scope: 'operator',
    run: (args) => ({ released: store.release(args.name, args.holder) }),
  });
}
