import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import { CohortError } from '../errors.ts';
import type { AppSettings } from '../config/app-schema.ts';
import type { AppPool } from './pool.ts';
import { longPollArgs } from './registry.ts';
import { rollingReload } from './rolling-reload.ts';
import type { Logger } from 'pino';

/** A front reports at most this many instances at once. */
const MAX_REPORTED = 4096;

export interface AppCommandDeps {
  self: string;
  pool: AppPool | undefined;
  /** The app settings the host table on disk gives this node now, and their digest (throws a ConfigError). */
  readSettings: () => { settings: AppSettings | undefined; digest: string };
  log: Logger;
}

export function registerAppCommands(registry: CommandRegistry, deps: AppCommandDeps): void {
  const pool = () => {
    if (!deps.pool) throw new CohortError('refused', `node ${deps.self} runs no app pool (no app: section applies to it)`);
    return deps.pool;
  };
  registry.register({
    name: 'app.registry',
    summary: "this node's app instances; with `after` (a version) it answers at the next change, or after waitMs",
    args: longPollArgs,
    scope: 'any',
    run: (args) => pool().registry.next(args.after, args.boot, args.waitMs),
  });
  registry.register({
    name: 'app.served',
    summary: 'a front reports how many requests it sent each instance since its last report, and which answered with X-Cohort-Drain',
    args: z.strictObject({
      counts: z.record(z.string().max(100), z.number().int().min(0).max(1e9)).refine((c) => Object.keys(c).length <= MAX_REPORTED, `at most ${MAX_REPORTED} instances`),
      draining: z.array(z.string().max(100)).max(MAX_REPORTED).default([]),
    }),
    // Fronts only: `draining` retires instances, counts recycle them.
    scope: 'operator',
    run: (args) => {
      pool().served(args.counts, args.draining);
      return { ok: true };
    },
  });
  registry.register({
    name: 'app.reload',
    summary: 'rolling reload of this node\'s pool with the app settings of the host table on disk; follow it in app.registry',
    args: z.strictObject({
      /** The digest of the app settings in the caller's copy of the host table (appSettingsDigest): the node refuses to reload other ones. */
      expect: z.string().regex(/^[0-9a-f]{16}$/).optional(),
    }),
    scope: 'operator',
    run: (args) => {
      const p = pool();
      if (p.reloadState.state === 'running') throw new CohortError('refused', `a reload of ${deps.self}'s pool is already running`);
      let read: { settings: AppSettings | undefined; digest: string };
      try {
        read = deps.readSettings();
      } catch (err) {
        throw new CohortError('bad_args', `the host table on disk is not valid; nothing was changed: ${(err as Error).message}`);
      }
      if (args.expect !== undefined && args.expect !== read.digest) {
        throw new CohortError('bad_args', `${deps.self}'s host table on disk gives other app settings than yours; copy your host table to every node first (nothing was changed)`);
      }
      const next = read.settings;
      if (!next) throw new CohortError('refused', `the host table on disk gives ${deps.self} no app pool any more; stop the node to stop its pool`);
      void rollingReload(p, next, deps.log);
      return { started: true, instances: next.instances, version: p.registry.version, boot: p.registry.boot };
    },
  });
}
