import { z } from 'zod';
import type { CommandContext, CommandRegistry } from '../../commands/registry.ts';
import type { HostTable } from '../../config/host-table.ts';
import { CohortError } from '../../errors.ts';
import { termPairOf } from './voters.ts';
import type { Voter } from './voter.ts';
import { MAX_EPOCH } from './home-term.ts';

const home = z.string().min(1).max(64);
const epoch = z.number().int().min(1).max(MAX_EPOCH + 1);
const version = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * A voter's commands (issue 27): a home's primary renews its lease and says where its backup
 * stands (`home.term.renew`); the home or its backup claims the next epoch (`home.term.claim`,
 * first as a dry run). Peers only, only for a home this node votes on, only from the home or
 * its backup. `home.term.state` shows what this voter holds (operators, tests).
 */
export function registerTermCommands(registry: CommandRegistry, deps: { self: string; table: HostTable; voter: Voter }): void {
  const pairFor = (h: string, ctx: CommandContext): readonly string[] => {
    const pair = termPairOf(deps.table, h);
    if (!pair || !pair.voters.includes(deps.self)) throw new CohortError('refused', `${deps.self} does not vote on ${h}'s terms`);
    const members = [pair.home, pair.backup];
    if (!members.includes(ctx.from)) throw new CohortError('refused', `only ${members.join(' or ')} may hold ${h}'s writes (this came from ${ctx.from})`);
    return members;
  };
  registry.register({
    name: 'home.term.renew',
    summary: "the home's primary renews its lease at its epoch and says whether its backup holds every write it acknowledged (peers only)",
    args: z.strictObject({ home, epoch, version, inSync: z.boolean(), release: z.boolean().optional() }),
    scope: 'peers',
    run: (a, ctx) => {
      pairFor(a.home, ctx);
      return deps.voter.renew(ctx.from, a.home, a);
    },
  });
  registry.register({
    name: 'home.term.claim',
    summary: "the home or its backup asks for the home's next epoch (granted at most once; dryRun: would it be?) (peers only)",
    args: z.strictObject({ home, epoch, inSync: z.boolean(), dryRun: z.boolean() }),
    scope: 'peers',
    run: (a, ctx) => deps.voter.claim(ctx.from, a.home, a, pairFor(a.home, ctx), a.dryRun),
  });
  registry.register({
    name: 'home.term.state',
    summary: "what this voter holds of each home's terms: epoch, primary, backup in step, how long since the primary renewed",
    args: z.strictObject({}),
    scope: 'any',
    run: () => ({
      voter: deps.self,
      homes: deps.table.nodes
        .filter((n) => termPairOf(deps.table, n.id)?.voters.includes(deps.self))
        .map((n) => ({ home: n.id, ...deps.voter.term(n.id), silentMs: Math.round(deps.voter.silentMs(n.id)) })),
    }),
  });
}
