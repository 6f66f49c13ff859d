import { z } from 'zod';
import type { CommandRegistry } from './registry.ts';
import type { PeerStatus } from '../net/peer.ts';
import type { LoadFigures } from '../sessions/load.ts';

export interface BuiltinDeps {
  self: string;
  /** This node's load figures (src/sessions/load.ts). */
  load: () => LoadFigures;
  peers: () => PeerStatus[];
  inboundPeers: () => string[];
  reconnectAll: () => string[];
}

const noArgs = z.strictObject({});

export function registerBuiltins(registry: CommandRegistry, deps: BuiltinDeps): void {
  registry.register({
    name: 'ping',
    summary: 'answers with the node id',
    args: noArgs,
    scope: 'any',
    run: () => ({ node: deps.self }),
  });
  registry.register({
    name: 'load',
    summary: "this node's load: the 1-minute load average and the active sessions, each as a percentage of its 100% value, and the larger (percent)",
    args: noArgs,
    scope: 'any',
    run: () => deps.load(),
  });
  registry.register({
    name: 'memory',
    summary: "this node's process memory in bytes (heap used and total, resident set, external); gc: collect first, if node runs with --expose-gc",
    args: z.strictObject({ gc: z.boolean().default(false) }),
    scope: 'any',
    run: (args) => {
      const collect = (globalThis as { gc?: () => void }).gc;
      if (args.gc) collect?.();
      const { heapUsed, heapTotal, rss, external } = process.memoryUsage();
      return { node: deps.self, collected: args.gc && collect !== undefined, heapUsed, heapTotal, rss, external };
    },
  });
  registry.register({
    name: 'peers',
    summary: "this node's links: outbound state per peer, and which peers link to it",
    args: noArgs,
    scope: 'any',
    run: () => {
      const inbound = new Set(deps.inboundPeers());
      return { node: deps.self, peers: deps.peers().map((p) => ({ ...p, inbound: inbound.has(p.id) })) };
    },
  });
  registry.register({
    name: 'reconnect',
    summary: 'redial every peer whose link is down now, without waiting out the back-off (seed: USR1)',
    args: noArgs,
    scope: 'operator-local',
    run: () => ({ node: deps.self, redialed: deps.reconnectAll() }),
  });
}
