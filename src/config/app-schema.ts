import { resolve } from 'node:path';
import { z } from 'zod';

// The host table's `app:` section: the user's web application that every access node runs as
// a pool of instances (seed 001's AppServers). Cluster-wide, with per-node overrides in a
// node's own `app:` entry; library nodes run it only when their entry has one.

const ms = z.number().int().positive();
const port = z.number().int().min(1).max(65535);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** What exec() can carry: no NUL byte (YAML can write one as "\0"). */
const noNul = (max: number) => z.string().max(max).regex(/^[^\0]*$/, 'a NUL byte cannot be passed to a program');

const appFields = {
  /** The program and its arguments (no shell): ["node", "server.js"], ["python3", "-m", "app"]. */
  command: z.array(noNul(4096).min(1)).min(1, 'command needs at least the program').max(256),
  /** Working directory of the instances, relative to the host table (default: its folder). */
  cwd: noNul(4096).min(1).optional(),
  /** Instances on this node; 0 turns the pool off. */
  instances: z.number().int().min(0).max(256),
  /** Instances listen on basePort and up; a port that is taken is skipped (seed 001). */
  basePort: port,
  /** How many ports from basePort the pool may use (at least `instances`). */
  portSpan: z.number().int().min(1).max(10_000),
  /** Added to the node's own environment; PORT, HOST, COHORT_* are set by the node. */
  env: z.record(z.string(), noNul(65_536)).superRefine((env, ctx) => {
    for (const key of Object.keys(env)) {
      if (!ENV_NAME.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'environment variable names are letters, digits and _, not starting with a digit' });
    }
  }),
  health: z.strictObject({
    path: z.string().regex(/^\/[\x21-\x7e]*$/, 'a path starting with / (visible ASCII only)').max(2048),
    intervalMs: ms,
    timeoutMs: ms,
    /** Failed probes in a row after which a ready instance is killed and replaced. */
    fails: z.number().int().min(1).max(100),
  }),
  /** A new instance that has not answered its probe within this long is killed and counted as failed. */
  startTimeoutMs: ms,
  recycle: z.strictObject({
    /** Recycle after this many requests (as counted by the fronts); 0: never. */
    maxRequests: z.number().int().min(0),
    /** Recycle past this resident set size in MiB; 0: never. */
    maxMemoryMb: z.number().int().min(0),
  }),
  /** How long a DYING instance may keep its sessions before it is stopped anyway. */
  drainTimeoutMs: ms,
  /** After SIGTERM, how long an instance may finish its requests before SIGKILL. */
  killTimeoutMs: ms,
  /** Crash-loop back-off between failed starts, doubling from min to max. */
  backoff: z.strictObject({ minMs: ms, maxMs: ms }),
  /** An instance that stayed up this long ends a crash loop (its back-off starts over). */
  stableMs: ms,
};

export const APP_DEFAULTS = {
  instances: 2,
  portSpan: 100,
  env: {},
  health: { path: '/healthz', intervalMs: 1000, timeoutMs: 1000, fails: 3 },
  startTimeoutMs: 30_000,
  recycle: { maxRequests: 0, maxMemoryMb: 0 },
  drainTimeoutMs: 60_000,
  killTimeoutMs: 10_000,
  backoff: { minMs: 500, maxMs: 30_000 },
  stableMs: 10_000,
};

const partial = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).partial();

/** Either section: every field optional here; the merge is checked whole by `appSettingsSchema`. */
export const appSectionSchema = z.strictObject({
  ...appFields,
  health: partial(appFields.health.shape),
  recycle: partial(appFields.recycle.shape),
  backoff: partial(appFields.backoff.shape),
}).partial();

export const appSettingsSchema = z
  .strictObject(appFields)
  .superRefine((a, ctx) => {
    // A replacement starts beside the instance it replaces (recycle, reload): it needs a port of its own.
    if (a.portSpan <= a.instances) ctx.addIssue({ code: 'custom', path: ['portSpan'], message: `must be more than instances (${a.instances}): a replacement starts beside the instance it replaces` });
    if (a.basePort + a.portSpan - 1 > 65535) ctx.addIssue({ code: 'custom', path: ['portSpan'], message: `basePort + portSpan runs past port 65535` });
    if (a.health.timeoutMs > a.health.intervalMs) ctx.addIssue({ code: 'custom', path: ['health', 'timeoutMs'], message: 'must not exceed health.intervalMs' });
    if (a.backoff.maxMs < a.backoff.minMs) ctx.addIssue({ code: 'custom', path: ['backoff', 'maxMs'], message: 'must be at least backoff.minMs' });
  });

export type AppSection = z.output<typeof appSectionSchema>;
export type AppSettings = z.output<typeof appSettingsSchema> & { cwd: string };

/**
 * A node's app settings: the cluster-wide section with the node's own on top, defaults under
 * both. Undefined when the node runs no pool. Throws the zod issues of a merge that is invalid
 * (the host table's loader reports them under the node's path).
 */
export function mergeAppSettings(cluster: AppSection | undefined, own: AppSection | undefined, role: 'library' | 'access', baseDir: string): { settings?: AppSettings; issues?: z.core.$ZodIssue[] } {
  if (!own && (!cluster || role !== 'access')) return {};
  const merged = {
    ...APP_DEFAULTS,
    ...cluster,
    ...own,
    env: { ...APP_DEFAULTS.env, ...cluster?.env, ...own?.env },
    health: { ...APP_DEFAULTS.health, ...cluster?.health, ...own?.health },
    recycle: { ...APP_DEFAULTS.recycle, ...cluster?.recycle, ...own?.recycle },
    backoff: { ...APP_DEFAULTS.backoff, ...cluster?.backoff, ...own?.backoff },
  };
  const parsed = appSettingsSchema.safeParse(merged);
  if (!parsed.success) return { issues: parsed.error.issues };
  if (parsed.data.instances === 0) return {};
  return { settings: { ...parsed.data, cwd: resolve(baseDir, parsed.data.cwd ?? '.') } };
}
