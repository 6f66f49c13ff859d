import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import { nodeDataDir, type HostTable } from '../config/host-table.ts';
import { MAX_TABLE_BYTES, pinnedOperatorKey, readSignedFile, verifySignedTable, type SignedTable, type VerifiedTable } from '../config/signed-table.ts';
import { judgeVersion, reusesRemovedId, splitChange, tableChange, type HostsStatus } from '../config/table-change.ts';
import type { NodeEntry } from '../config/schema.ts';
import { CohortError } from '../errors.ts';
import type { Peer } from '../net/peer.ts';
import { AcceptedTableFile } from './accepted-table.ts';
import type { Part } from './lifecycle.ts';

const signedArgs = z.strictObject({ text: z.string().max(MAX_TABLE_BYTES), signature: z.string().max(200) });
/** A peer that said it holds a newer version is asked for it this often until it answers, at most this many times. */
const FETCH_RETRY_MS = 500;
const FETCH_TRIES = 20;
/** A version is pushed to, or fetched from, one peer at most this often: heartbeats say a peer's version every second. */
const AGAIN_AFTER_MS = 10_000;

/** What a node does when a newer table adds nodes it can take at once. */
export interface TableAppliers {
  /** Links dialed and accepted (links.ts), the outbox's deliveries made (critical-service.ts). */
  nodesAdded: (entries: NodeEntry[]) => Promise<void>;
  /** Links closed, queued messages set aside, subscriptions dropped. */
  nodesRemoved: (ids: string[]) => Promise<void>;
  /** Sessions' copies placed anew (node-sessions.ts). */
  placedAnew: (previous: HostTable) => Promise<void>;
}

/**
 * The node's host table over time (issue 28): it holds the highest signed version it accepted
 * (on its disk, accepted-table.ts), takes a newer one from the operator (`cohort hosts push`,
 * SIGHUP) or a peer, passes it to every peer whose hello said an older one, and fetches it from
 * a peer whose hello said a newer one. What a version changes applies at once where it can
 * (table-change.ts); the rest waits for a restart and is said so. Offers are taken one at a time.
 */
export class NodeHosts implements Part {
  private readonly self: string;
  /** The table the node runs on: the same object every part holds, changed in place. */
  private readonly running: HostTable;
  private readonly configFile: string;
  private readonly key: KeyObject | undefined;
  private readonly store: AcceptedTableFile;
  private readonly peers: Map<string, Peer>;
  private readonly call: (to: string, cmd: string, args: unknown) => Promise<unknown>;
  private readonly log: Logger;
  private held: VerifiedTable | undefined;
  private pendingRestart: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Per peer of the table (so bounded by it): the last version pushed to or fetched from it, and when. */
  private readonly lastAsked = new Map<string, { version: number; at: number }>();
  /** Peers a newer version is being fetched from (one fetch per peer at a time). */
  private readonly fetching = new Set<string>();
  appliers: TableAppliers | undefined;

  constructor(opts: { self: string; table: HostTable; configFile: string; held: VerifiedTable | undefined; peers: Map<string, Peer>; registry: CommandRegistry; call: (to: string, cmd: string, args: unknown) => Promise<unknown>; log: Logger }) {
    this.self = opts.self;
    this.running = opts.table;
    this.configFile = opts.configFile;
    this.held = opts.held;
    this.key = opts.held ? pinnedOperatorKey(opts.table.tlsDir) : undefined;
    this.store = new AcceptedTableFile(nodeDataDir(opts.table, opts.self));
    this.peers = opts.peers;
    this.call = opts.call;
    this.log = opts.log;
    const registry = opts.registry;
    registry.register({ name: 'hosts.current', summary: "the host table version this node holds and runs on, and what waits for a restart", args: z.strictObject({}), scope: 'operator', run: () => this.current() });
    registry.register({ name: 'hosts.offer', summary: 'a signed host table version (text and Ed25519 signature): taken if newer, refused if older, unsigned, altered or another text of the same version', args: signedArgs, scope: 'operator', run: (a, ctx) => this.offer(a, ctx.from) });
    registry.register({ name: 'hosts.fetch', summary: 'the signed host table version this node holds (a node asks a peer whose hello said a newer one; a front asks its node)', args: z.strictObject({}), scope: 'operator', run: () => this.signed() });
  }

  /** Said in each hello this node sends. */
  version(): { version: number; hash: string } | undefined {
    return this.held && { version: this.held.version, hash: this.held.hash };
  }

  current(): HostsStatus {
    return { version: this.held?.version ?? 0, hash: this.held?.hash ?? null, running: this.running.version, pendingRestart: [...this.pendingRestart], signed: this.key !== undefined };
  }

  start(): void {
    this.stopped = false;
  }

  /** Offers are refused from here on (a SIGHUP or a push while the node stops changes nothing). */
  drain(): void {
    this.stopped = true;
  }

  status(): { ok: boolean; detail: string } {
    const s = this.current();
    if (!s.signed) return { ok: true, detail: 'unversioned host table (no operator key pinned)' };
    return { ok: true, detail: s.pendingRestart.length ? `holds version ${s.version}, runs on ${s.running}: restart for ${s.pendingRestart.join('; ')}` : `version ${s.version}` };
  }

  private signed(): SignedTable {
    const signed = this.signedTable();
    if (!signed) throw new CohortError('refused', 'this node holds no signed host table');
    return signed;
  }

  /** The signed version this node holds (undefined: it pins no operator key). */
  signedTable(): SignedTable | undefined {
    return this.held && { text: this.held.text, signature: this.held.signature };
  }

  /** SIGHUP: the config file again; a newer signed version in it is taken (an older or the same one changes nothing). */
  reloadFile(): Promise<{ taken: boolean; version: number }> {
    const signed = readSignedFile(this.configFile);
    if (!signed) return Promise.reject(new CohortError('refused', `${this.configFile} is not signed (no ${this.configFile}.sig)`));
    return this.offer(signed, 'file');
  }

  /** A version offered by the operator, a peer or the file: one at a time, in arrival order. */
  offer(signed: SignedTable, from: string): Promise<{ taken: boolean; version: number }> {
    const next = this.queue.then(() => this.take(signed, from));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async take(signed: SignedTable, from: string): Promise<{ taken: boolean; version: number }> {
    if (!this.key || !this.held) throw new CohortError('refused', `${this.self} pins no operator key (<tls dir>/operator.pub): its host table cannot change while it runs`);
    if (this.stopped) throw new CohortError('con_lost', `${this.self} is stopping: it takes no host table now`);
    const offered = verifySignedTable(signed, this.key, this.configFile);
    if (offered.table.cluster !== this.running.cluster) throw new CohortError('refused', `a table of cluster '${offered.table.cluster}', not '${this.running.cluster}'`);
    // Where a node keeps its files and finds its keys (its accepted versions, operator.pub) is not a version's to move.
    for (const [key, what] of [['dataDir', 'dataDir'], ['tlsDir', 'tls.dir']] as const) {
      if (offered.table[key] !== this.running[key]) throw new CohortError('refused', `a version may not move ${what} (${this.running[key]} -> ${offered.table[key]}): move the files and restart every node on a new table`);
    }
    const reused = reusesRemovedId(this.running, offered.table);
    if (reused) throw new CohortError('refused', `version ${offered.version} is refused: ${reused}`);
    const verdict = judgeVersion(this.held, offered);
    this.holds(from, offered); // a peer offers what it holds
    if (verdict === 'have') return { taken: false, version: offered.version };
    if (verdict !== 'take') {
      this.log.warn({ event: 'host_table_refused', from, version: offered.version, why: verdict }, `host table from ${from} refused: ${verdict}`);
      throw new CohortError('refused', verdict);
    }
    this.store.write(offered);
    this.held = offered;
    // Entries copied: a node marked leaving is changed in place below.
    const previous = { ...this.running, nodes: this.running.nodes.map((n) => ({ ...n })) };
    const { live, waits } = splitChange(tableChange(this.running, offered.table), this.running);
    if (live.removed.includes(this.self)) {
      live.removed = live.removed.filter((id) => id !== this.self);
      waits.push(`${this.self} itself removed: stop it (it cannot start on this version)`);
    }
    // In place: every part holds this object and reads its nodes when it needs them. What applies
    // now does so even while something else waits for the restart (a removal must not wait).
    const nodes = this.running.nodes;
    for (const id of live.leaving) nodes.find((n) => n.id === id)!.leaving = true;
    for (const id of live.removed) nodes.splice(nodes.findIndex((n) => n.id === id), 1);
    nodes.push(...live.added);
    for (const id of live.removed) if (!this.running.removed.includes(id)) this.running.removed.push(id);
    if (waits.length === 0) this.running.version = offered.version;
    this.pendingRestart = waits;
    if (live.added.length) await this.appliers?.nodesAdded(live.added);
    if (live.removed.length) await this.appliers?.nodesRemoved(live.removed);
    // Passed on before the sessions are placed anew (a scan of every session this node keeps).
    this.spread(from);
    if (live.added.length || live.leaving.length || live.removed.length) await this.appliers?.placedAnew(previous);
    const what = [['added', live.added.map((n) => n.id)], ['leaving', live.leaving], ['removed', live.removed]].filter(([, ids]) => ids.length).map(([w, ids]) => `${w} ${(ids as string[]).join(', ')}`);
    if (waits.length === 0) {
      this.log.info({ event: 'host_table_applied', from, version: offered.version, added: live.added.map((n) => n.id), leaving: live.leaving, removed: live.removed }, `host table version ${offered.version} from ${from} applied${what.length ? ` (${what.join('; ')})` : ''}`);
    } else {
      this.log.warn({ event: 'host_table_pending_restart', from, version: offered.version, running: this.running.version, applied: what, waits }, `host table version ${offered.version} from ${from} kept${what.length ? `; applied now: ${what.join('; ')}` : ''}; at the next start: ${waits.join('; ')}`);
    }
    return { taken: true, version: offered.version };
  }

  /** A peer's hello or heartbeat said which version it holds: an older one gets ours, a newer one is fetched. */
  peerSaid(peer: string, heard: { version: number; hash: string }): void {
    if (!this.held || this.stopped) return;
    const verdict = judgeVersion(this.held, heard);
    if (verdict === 'have') return;
    const version = Math.max(heard.version, this.held.version);
    const last = this.lastAsked.get(peer);
    if (last && last.version === version && performance.now() - last.at < AGAIN_AFTER_MS) return;
    this.lastAsked.set(peer, { version, at: performance.now() });
    if (heard.version < this.held.version) return void this.push(peer);
    if (heard.version > this.held.version) return void this.fetchFrom(peer);
    this.log.error({ event: 'host_table_split', peer, version: heard.version, ours: this.held.hash, theirs: heard.hash }, `${peer} holds another text of host table version ${heard.version}: sign a newer version`);
  }

  private spread(from: string): void {
    for (const peer of this.peers.values()) {
      if (peer.id === from || peer.id === this.self) continue;
      if (peer.heardTable && peer.heardTable.version >= this.held!.version) continue;
      if (peer.state === 'up') void this.push(peer.id);
    }
  }

  /** What `peer` holds now, when it offered or took a version (its hello said what it held then). */
  private holds(peer: string, table: { version: number; hash: string }): void {
    const p = this.peers.get(peer);
    if (p && (!p.heardTable || p.heardTable.version < table.version)) p.heardTable = { version: table.version, hash: table.hash };
  }

  private async push(peer: string): Promise<void> {
    const held = this.held!;
    try {
      await this.call(peer, 'hosts.offer', this.signed());
      this.holds(peer, held);
    } catch (err) {
      this.log.debug({ event: 'host_table_push_failed', peer, err: (err as Error).message }, `host table not passed to ${peer}`);
    }
  }

  private async fetchFrom(peer: string): Promise<void> {
    if (this.fetching.has(peer)) return;
    this.fetching.add(peer);
    try {
      for (let i = 0; i < FETCH_TRIES && !this.stopped && this.peers.has(peer); i++) {
        try {
          const signed = signedArgs.parse(await this.call(peer, 'hosts.fetch', {}));
          await this.offer(signed, peer);
          return;
        } catch (err) {
          // Only a link that is not there yet (con_lost) is worth another try; what it sent was judged.
          if (!(err instanceof CohortError && err.code === 'con_lost')) {
            this.log.warn({ event: 'host_table_fetch_refused', peer, err: (err as Error).message }, `the host table ${peer} holds was not taken: ${(err as Error).message}`);
            return;
          }
          await new Promise((r) => setTimeout(r, FETCH_RETRY_MS));
        }
      }
    } finally {
      this.fetching.delete(peer);
    }
  }

}
