import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import { longPollArgs, Versioned } from './registry.ts';

// Cluster-wide maintenance mode (seed 004: "Maintenance Mode" for a consistent update).
// Every node keeps the setting in its own database; the CLI sends it to every node as a
// critical message, so a node that was down hears it when it is back. Fronts follow one
// node's copy with the `maintenance.get` long poll.

export interface MaintenanceState {
  on: boolean;
  /** Plain text for the maintenance page ('' for the default wording). */
  message: string;
  /** When the operator set it (ms epoch, the sender's clock): the newest `at` wins. */
  at: number;
  /** The node the setting came from. */
  by?: string;
}

export interface MaintenanceSnapshot {
  node: string;
  boot: string;
  version: number;
  state: MaintenanceState;
}

export const MAX_MESSAGE_CHARS = 2000;
/**
 * An `at` further ahead of the receiver's clock is refused: it would outrank every later
 * setting until that time (a typo, a clock that is wrong). A minute covers the clock drift
 * between synchronised machines.
 */
export const MAX_FUTURE_MS = 60_000;

const OFF: MaintenanceState = { on: false, message: '', at: 0 };

/** Plain text: printable characters, tabs and line breaks; no other control characters. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

export const setArgs = z.strictObject({
  on: z.boolean(),
  message: z.string().max(MAX_MESSAGE_CHARS).refine((m) => !CONTROL.test(m), 'message must be plain text (no control characters but tab and newline)').default(''),
  at: z.number().int().min(1).superRefine((at, ctx) => {
    const ahead = at - Date.now();
    if (ahead > MAX_FUTURE_MS) ctx.addIssue({ code: 'custom', message: `at is ${Math.round(ahead / 1000)} s ahead of this node's clock: at most ${MAX_FUTURE_MS / 1000} s is allowed (check the sender's clock)` });
  }),
  /** Compare-and-set: applied only while the stored setting is the one of this `at` (a reload's own "off" must not undo an operator's later "on"). */
  ifAt: z.number().int().min(0).optional(),
  /**
   * The operator's override of a setting stamped ahead of the receiver's clock (a sender's clock
   * that runs fast): stored although that one's `at` is newer; later settings compare with this
   * one's `at`. A stored setting not ahead of the clock is newer in fact, and stays: a forced
   * message that arrives late (its receiver was down) does not undo a later setting.
   */
  force: z.boolean().default(false),
}).refine((a) => !(a.force && a.ifAt !== undefined), 'force and ifAt exclude each other');


/** The node's copy of the setting: one row in its database, cached, versioned for long polls. */
export class MaintenanceStore {
  private readonly node: string;
  private readonly select: StatementSync;
  private readonly upsert: StatementSync;
  private current: MaintenanceState;
  readonly versioned: Versioned<MaintenanceSnapshot>;

  constructor(db: DatabaseSync, node: string) {
    this.node = node;
    db.exec(`CREATE TABLE IF NOT EXISTS maintenance (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      on_ INTEGER NOT NULL,
      message TEXT NOT NULL,
      at INTEGER NOT NULL,
      by_node TEXT
    )`);
    this.select = db.prepare('SELECT on_, message, at, by_node FROM maintenance WHERE id = 1');
    // Last writer wins by `at` (ties by on, then message: every node picks the same one),
    // decided in SQL so the check and the write are one statement.
    // Forced: the row is replaced also when its `at` is ahead of this node's clock (:now).
    this.upsert = db.prepare(`INSERT INTO maintenance (id, on_, message, at, by_node) SELECT 1, :on, :message, :at, :by
      WHERE :ifAt IS NULL OR :ifAt = 0 OR EXISTS (SELECT 1 FROM maintenance WHERE id = 1)
      ON CONFLICT (id) DO UPDATE SET on_ = excluded.on_, message = excluded.message, at = excluded.at, by_node = excluded.by_node
      WHERE (:force = 1 AND maintenance.at > :now) OR ((excluded.at, excluded.on_, excluded.message) > (maintenance.at, maintenance.on_, maintenance.message)
        AND (:ifAt IS NULL OR maintenance.at = :ifAt))`);
    this.current = this.load();
    this.versioned = new Versioned(() => ({ node: this.node, boot: this.versioned.boot, version: this.versioned.version, state: { ...this.current } }));
  }

  get state(): MaintenanceState {
    return { ...this.current };
  }

  /**
   * Stores `next` unless the stored setting is as new or newer. May run inside the critical
   * inbox's transaction: the cache and the version follow only once that has committed (or
   * rolled back), by reading the row again after the current job.
   */
  set(next: MaintenanceState, opts: { ifAt?: number; force?: boolean } = {}): { applied: boolean; state: MaintenanceState } {
    const applied = Number(this.upsert.run({ on: next.on ? 1 : 0, message: next.message, at: next.at, by: next.by ?? null, ifAt: opts.ifAt ?? null, force: opts.force ? 1 : 0, now: Date.now() }).changes) > 0;
    queueMicrotask(() => this.refresh());
    return { applied, state: applied ? { ...next } : this.state };
  }

  private refresh(): void {
    const stored = this.load();
    const c = this.current;
    if (stored.on === c.on && stored.message === c.message && stored.at === c.at && stored.by === c.by) return;
    this.current = stored;
    this.versioned.bump();
  }

  private load(): MaintenanceState {
    const row = this.select.get() as { on_: number; message: string; at: number; by_node: string | null } | undefined;
    if (!row) return { ...OFF };
    return { on: row.on_ === 1, message: row.message, at: row.at, ...(row.by_node === null ? {} : { by: row.by_node }) };
  }

  close(): void {
    this.versioned.close();
  }
}

export function registerMaintenanceCommands(registry: CommandRegistry, store: MaintenanceStore): void {
  registry.register({
    name: 'maintenance.set',
    summary: 'set this node\'s copy of the cluster\'s maintenance mode {on, message, at}; an `at` older than the stored one changes nothing, unless force',
    args: setArgs,
    scope: 'operator',
    critical: true,
    run: (args, ctx) => store.set({ on: args.on, message: args.message, at: args.at, by: ctx.from }, { ifAt: args.ifAt, force: args.force }),
  });
  registry.register({
    name: 'maintenance.get',
    summary: 'this node\'s copy of the maintenance mode; with `after` (a version) it answers at the next change, or after waitMs',
    args: longPollArgs,
    scope: 'any',
    run: (args) => store.versioned.next(args.after, args.boot, args.waitMs),
  });
}
