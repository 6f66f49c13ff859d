import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import type { Peer } from '../net/peer.ts';
import type { CommandRegistry, CommandContext } from '../commands/registry.ts';

/** Sends a command where it belongs: this node's registry, or the link to its target. */
export class Router {
  private readonly self: string;
  private readonly table: HostTable;
  private readonly registry: CommandRegistry;
  private readonly peers: Map<string, Peer>;

  constructor(self: string, table: HostTable, registry: CommandRegistry, peers: Map<string, Peer>) {
    this.self = self;
    this.table = table;
    this.registry = registry;
    this.peers = peers;
  }

  route(to: string, cmd: string, args: unknown, ctx: CommandContext): unknown | Promise<unknown> {
    if (to === this.self) return this.registry.execute(cmd, args, ctx);
    const peer = this.peers.get(to);
    if (!peer) {
      throw new CohortError('no_such_host', `no node '${to}' in the host table (nodes: ${this.table.nodes.map((n) => n.id).join(', ')})`);
    }
    return peer.request(cmd, args);
  }
}
