import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import type { CriticalService } from './critical-service.ts';

/** The operator's view of the outbox: depth per peer, dead letters, and re-queueing one. */
export function registerOutboxCommands(registry: CommandRegistry, critical: CriticalService): void {
  registry.register({
    name: 'outbox.status',
    summary: 'critical messages waiting per peer: depth, in flight, age of the oldest; number of dead letters',
    args: z.strictObject({}),
    scope: 'local',
    run: () => critical.status(),
  });
  registry.register({
    name: 'outbox.dead',
    summary: 'critical messages a peer rejected for good, with the reason',
    args: z.strictObject({ limit: z.number().int().min(1).max(100_000).default(1000) }),
    // Dead letters hold other apps' messages.
    scope: 'operator-local',
    run: (args) => ({ dead: critical.deadLetters(args.limit) }),
  });
  registry.register({
    name: 'outbox.retry',
    summary: 'queue a dead letter again (at the tail, as a new message)',
    args: z.strictObject({ id: z.number().int().positive() }),
    scope: 'operator-local',
    run: (args) => critical.retry(args.id),
  });
}
