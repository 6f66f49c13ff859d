import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import type { AuthorQuota } from './author-quota.ts';
import type { CopyBudget } from './copy-budget.ts';
import type { FreeSpace } from './free-space.ts';
import { pruneVersions, type PruneDeps } from './prune.ts';
import { parseResourceUrl, resourceUrl } from './resource-url.ts';

export interface StorageCommandDeps {
  self: string;
  quota: AuthorQuota;
  budget: CopyBudget;
  freeSpace: FreeSpace;
  prune: PruneDeps;
}

/** What resources may take on a node, and pruning: `cohort resources` and `cohort resources prune`. */
export function registerStorageCommands(registry: CommandRegistry, deps: StorageCommandDeps): void {
  registry.register({
    name: 'res.storage',
    summary: "what resources take on this node: each author's versions and bytes against her quota, copies against the node's budget, free space against its floor",
    args: z.strictObject({}),
    scope: 'local',
    run: () => {
      const { heldBytes, reservedBytes } = deps.budget.used();
      return {
        node: deps.self,
        authors: deps.quota.list(),
        copies: { heldBytes, reservedBytes, budgetBytes: deps.budget.budgetBytes },
        disk: deps.freeSpace.state(),
        problem: deps.freeSpace.problem(),
      };
    },
  });
  // Who may: the home node's operator (its local socket, not an app process: an app publishes
  // for its users but does not delete what they kept); an author asks the operator. The newest
  // is never pruned.
  registry.register({
    name: 'res.prune',
    summary: "remove every version of a resource but the newest `keep`, on the author's home node (files no row names are deleted)",
    args: z.strictObject({ url: resourceUrl, keep: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
    scope: 'operator-local',
    run: (a) => pruneVersions(deps.prune, parseResourceUrl(a.url), a.keep),
  });
}
