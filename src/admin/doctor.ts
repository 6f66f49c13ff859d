import type { CohortClient } from '../client/client.ts';
import { appSettingsFor, type HostTable } from '../config/host-table.ts';
import type { OutboxPeerStatus } from '../critical/critical-service.ts';
import type { BackupStatus } from '../homes/home-shipper.ts';
import type { PeerStatus } from '../net/peer.ts';
import type { RegistrySnapshot } from '../supervisor/registry.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorText } from '../errors.ts';

// `cohort doctor`'s network checks (seed 000's loncron): is the node answering, are its links
// up, do its app instances serve, is an outbox growing. Each check gives rows; a repair is only
// what is safe to do again and again from cron: redial a link, wait for the supervisor to
// replace an instance. Host checks (disk, logs, certificates) are in host-checks.ts.

export type Status = 'ok' | 'repaired' | 'warn' | 'fail';

export interface Row {
  check: string;
  node: string;
  status: Status;
  detail: string;
}

export interface DoctorOptions {
  repair: boolean;
  /** Stderr: what the doctor is doing and repairing. */
  progress: (line: string) => void;
  /** How long a down link may take to come back after a redial. */
  linkWaitMs: number;
  /** How long the supervisor may take to bring an app instance back. */
  appWaitMs: number;
  /** The gap between the two outbox samples. */
  outboxSampleMs: number;
}

type PeersReply = { node: string; peers: (PeerStatus & { inbound: boolean })[] };

/** Every outbound link up; a down one is redialed (`reconnect`) and watched for linkWaitMs. */
export async function checkLinks(client: CohortClient, node: string, opts: DoctorOptions): Promise<Row[]> {
  const read = async () => ((await client.call(node, 'peers')) as PeersReply).peers;
  const down = (await read()).filter((p) => p.state !== 'up');
  if (down.length === 0) return [{ check: 'links', node, status: 'ok', detail: 'every link is up' }];
  const what = (p: PeerStatus) => `link to ${p.id} ${p.state}${p.lastError ? ` (${p.lastError})` : ''}`;
  if (!opts.repair) return down.map((p) => ({ check: 'link', node, status: 'fail', detail: what(p) }));
  opts.progress(`${node}: ${down.map(what).join('; ')}: redialing`);
  const until = Date.now() + opts.linkWaitMs;
  let now = down;
  let lastRedial = 0;
  for (;;) {
    // Each redial that fails backs off; asking again every second keeps the link being dialed.
    if (Date.now() - lastRedial >= 1000) {
      await client.call(node, 'reconnect');
      lastRedial = Date.now();
    }
    await sleep(200);
    const peers = await read();
    now = down.map((d) => peers.find((p) => p.id === d.id) ?? d);
    if (now.every((p) => p.state === 'up') || Date.now() >= until) break;
  }
  return now.map((p) => p.state === 'up'
    ? { check: 'link', node, status: 'repaired', detail: `link to ${p.id} was down; redialed, up again` }
    : { check: 'link', node, status: 'fail', detail: `${what(p)}; still down after a redial and ${(opts.linkWaitMs / 1000).toFixed(0)} s` });
}

/** A ready instance that replaced a crashed one this recently is reported (as repaired, by the supervisor). */
export const RECENT_RESTART_MS = 10 * 60_000;

/** The slots of the pool with a ready instance, what the others show, and the slots whose instance died lately. */
function poolState(r: RegistrySnapshot, configured: number, now = Date.now()): { ready: number; missing: string[]; recent: string[] } {
  const missing: string[] = [];
  const recent: string[] = [];
  let ready = 0;
  for (let slot = 1; slot <= configured; slot++) {
    const own = r.instances.filter((i) => i.slot === slot && i.state !== 'dying');
    const up = own.find((i) => i.state === 'ready');
    if (up) {
      ready++;
      if (up.lastError && up.restarts > 0 && up.startedAt !== null && now - up.startedAt < RECENT_RESTART_MS) {
        recent.push(`slot ${slot}: ${up.lastError}; ${up.id} took its place ${Math.round((now - up.startedAt) / 1000)} s ago`);
      }
    } else {
      const i = own[0];
      missing.push(i ? `slot ${slot} ${i.state}${i.lastError ? ` (last: ${i.lastError})` : ''}` : `slot ${slot} has no instance`);
    }
  }
  return { ready, missing, recent };
}

/**
 * Every configured app instance ready. The supervisor replaces what dies by itself; the
 * doctor's repair is to give it appWaitMs to do so (following the registry's long poll).
 */
export async function checkApps(client: CohortClient, table: HostTable, node: string, opts: DoctorOptions): Promise<Row[]> {
  const settings = appSettingsFor(table, node);
  if (!settings) return [];
  let r: RegistrySnapshot;
  try {
    r = (await client.call(node, 'app.registry')) as RegistrySnapshot;
  } catch (err) {
    return [{ check: 'apps', node, status: 'fail', detail: `cannot read its app registry: ${errorText(err)}` }];
  }
  const configured = settings.instances;
  let state = poolState(r, configured);
  if (state.missing.length === 0) {
    // Died and already replaced before we looked: repaired (by the supervisor), and said so.
    const status = r.problem ? 'warn' : state.recent.length ? 'repaired' : 'ok';
    return [{ check: 'apps', node, status, detail: `${state.ready}/${configured} instances ready${state.recent.length ? `; ${state.recent.join('; ')}` : ''}${r.problem ? `; ${r.problem}` : ''}` }];
  }
  const first = `${state.ready}/${configured} ready: ${state.missing.join('; ')}`;
  if (!opts.repair) return [{ check: 'apps', node, status: 'fail', detail: first }];
  opts.progress(`${node}: app instances ${first}; waiting up to ${(opts.appWaitMs / 1000).toFixed(0)} s for the supervisor to replace them`);
  const started = Date.now();
  const until = started + opts.appWaitMs;
  while (state.missing.length > 0 && Date.now() < until) {
    const waitMs = Math.max(0, Math.min(5000, until - Date.now()));
    const next = (await client.call(node, 'app.registry', { after: r.version, boot: r.boot, waitMs })) as RegistrySnapshot;
    r = next;
    state = poolState(r, configured);
  }
  if (state.missing.length === 0) {
    return [{ check: 'apps', node, status: 'repaired', detail: `${first}; the supervisor replaced them: ${configured}/${configured} ready after ${((Date.now() - started) / 1000).toFixed(1)} s` }];
  }
  return [{ check: 'apps', node, status: 'fail', detail: `${state.ready}/${configured} ready after ${(opts.appWaitMs / 1000).toFixed(0)} s: ${state.missing.join('; ')}${r.problem ? `; ${r.problem}` : ''}` }];
}

type OutboxReply = { peers: OutboxPeerStatus[]; dead: number };

/** The outbox sampled twice: a queue that grows, or waits on a down link, is a warning; so are dead letters. */
export async function checkOutbox(client: CohortClient, node: string, opts: DoctorOptions): Promise<Row[]> {
  const first = (await client.call(node, 'outbox.status')) as OutboxReply;
  const t0 = Date.now();
  await sleep(opts.outboxSampleMs);
  const second = (await client.call(node, 'outbox.status')) as OutboxReply;
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  const rows: Row[] = [];
  for (const p of second.peers) {
    const before = first.peers.find((q) => q.peer === p.peer)?.depth ?? 0;
    if (p.depth === 0 && before === 0) continue;
    const oldest = p.oldestAgeMs === null ? '' : `, oldest ${(p.oldestAgeMs / 1000).toFixed(1)} s`;
    const figures = `depth ${before} -> ${p.depth} in ${secs} s, link ${p.link}${oldest}`;
    if (p.depth > before) rows.push({ check: 'outbox', node, status: 'warn', detail: `to ${p.peer} growing: ${figures}` });
    else if (p.depth === before && p.link !== 'up') rows.push({ check: 'outbox', node, status: 'warn', detail: `to ${p.peer} waiting: ${figures}` });
    else rows.push({ check: 'outbox', node, status: 'ok', detail: `to ${p.peer} ${p.depth < before ? 'draining' : 'in flight'}: ${figures}` });
  }
  if (rows.length === 0) rows.push({ check: 'outbox', node, status: 'ok', detail: 'empty' });
  if (second.dead > 0) rows.push({ check: 'dead letters', node, status: 'warn', detail: `${second.dead} dead letter${second.dead === 1 ? '' : 's'} (cohort outbox --dead; retry or drop them)` });
  return rows;
}

type StorageReply = { copies: { heldBytes: number; budgetBytes: number }; problem: string | null };

/** Resources refused on the node (its disk below the free-space floor: publishes and new copies are 507) is a warning. */
export async function checkResources(client: CohortClient, node: string): Promise<Row[]> {
  const s = (await client.call(node, 'res.storage')) as StorageReply;
  if (s.problem) return [{ check: 'resources', node, status: 'warn', detail: s.problem }];
  return [{ check: 'resources', node, status: 'ok', detail: `copies ${s.copies.heldBytes} of ${s.copies.budgetBytes} bytes` }];
}

type PartsReply = { part: string; state: string; ok: boolean; detail?: string }[];

/**
 * The node's parts (its lifecycle): one that is not running, or says it is unsound (a database
 * quick_check found damaged at start), fails.
 */
export async function checkParts(client: CohortClient, node: string): Promise<Row[]> {
  const parts = (await client.call(node, 'node.parts')) as PartsReply;
  const bad = parts.filter((p) => p.state !== 'running' || !p.ok);
  if (bad.length === 0) return [{ check: 'parts', node, status: 'ok', detail: `${parts.length} running` }];
  return bad.map((p) => ({ check: 'parts', node, status: 'fail', detail: `${p.part} ${p.state}${p.detail ? `: ${p.detail}` : ''}` }));
}


/**
 * A home library node's backup (issue 27): in step is ok; out of step (its writes are on this
 * node alone) is a warning; a backup's copy the home refused to overwrite (its own database was
 * replaced) fails, for the operator must decide; a library node whose domain has no other one
 * to back it up is said, as ok. Nodes that are no home have no row.
 */
export async function checkHome(client: CohortClient, table: HostTable, node: string): Promise<Row[]> {
  const entry = table.nodes.find((n) => n.id === node);
  if (entry?.role !== 'library') return [];
  const { home, store, copies } = (await client.call(node, 'home.backup')) as { home: BackupStatus | null; store?: string; copies?: { home: string; holds?: number }[] };
  // A backup holding its home's writes (promoted): a warning while it lasts (its home is down, or back and not yet handed them back).
  const held: Row[] = (copies ?? []).filter((c) => c.holds).map((c) => ({ check: 'home writes held', node, status: 'warn', detail: `${node} holds ${c.home}'s writes at epoch ${c.holds}: ${c.home} was silent for a lease; they go back to it once it answers again` }));
  if (store === 'postgres') return [{ check: 'home backup', node, status: 'ok', detail: "none of Cohort's: its users and records are in PostgreSQL, whose standby is their backup" }, ...held];
  // A domain with one library node has no backup by the operator's choice of nodes: said, not a warning cron would raise forever.
  if (!home) return [{ check: 'home backup', node, status: 'ok', detail: `none: no other library node in domain ${entry.domain} (add one to have a backup)` }, ...held];
  const rows: Row[] = [termRow(node, entry.domain, home.term), ...held];
  if (home.inSync) return [{ check: 'home backup', node, status: 'ok', detail: `${home.backup} in step (log ${home.acked})` }, ...rows];
  const since = home.outOfSyncSince === null ? '' : ` for ${Math.round((Date.now() - home.outOfSyncSince) / 1000)} s`;
  return [{ check: 'home backup', node, status: home.copyRefused ? 'fail' : 'warn', detail: `${home.backup} out of step${since} (holds ${home.acked} of ${home.lsn}): ${home.why ?? ''}; writes are on ${node} alone` }, ...rows];
}

/** A home's terms: its lease held is ok; not held fails (it takes no writes); fewer than 3 voters warns (no consent to answer alone, no promotion). */
function termRow(node: string, domain: string, term: BackupStatus['term']): Row {
  if (term === undefined) return { check: 'home lease', node, status: 'ok', detail: 'not told (a node of an earlier version)' };
  if (term === null) return { check: 'home lease', node, status: 'warn', detail: `fewer than 3 voters in domain ${domain}: ${node} answers writes alone whenever its backup is away, without a majority's consent (mark access nodes voter: true)` };
  if (term.leaseHeld) return { check: 'home lease', node, status: 'ok', detail: `held at epoch ${term.epoch} (${term.votersAnswered.length} of ${term.voters.length} voters answered)` };
  const heldBy = term.heldBy ? `; ${term.heldBy.primary} holds epoch ${term.heldBy.epoch}` : '';
  return { check: 'home lease', node, status: 'fail', detail: `not held (${term.votersAnswered.length} of ${term.voters.length} voters answered${heldBy}): ${node} takes no reads or writes of its users` };
}
