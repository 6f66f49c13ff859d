import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import type { Journal } from './journal.ts';

const MAX_ENTRY_BYTES = 64 * 1024;
const stream = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'stream names are 1-128 letters, digits, or _ . : -');

export function registerJournalCommands(registry: CommandRegistry, journal: Journal): void {
  registry.register({
    name: 'journal.append',
    summary: 'append an entry (any JSON, up to 64 KiB) to a named stream on this node; replies with its sequence number',
    args: z.strictObject({
      stream,
      entry: z.unknown().refine((e) => e !== undefined && Buffer.byteLength(JSON.stringify(e)) <= MAX_ENTRY_BYTES, `entry must be JSON of at most ${MAX_ENTRY_BYTES} bytes`),
    }),
    scope: 'any',
    critical: true,
    run: (args, ctx) => ({ stream: args.stream, seq: journal.append(args.stream, ctx.from, args.entry) }),
  });
  registry.register({
    name: 'journal.read',
    summary: 'read entries of a stream after a sequence number',
    args: z.strictObject({ stream, after: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(10_000).default(1000) }),
    scope: 'any',
    run: (args) => ({ stream: args.stream, entries: journal.read(args.stream, args.after, args.limit) }),
  });
  registry.register({
    name: 'journal.streams',
    summary: 'the streams on this node with their entry counts',
    args: z.strictObject({}),
    scope: 'any',
    run: () => ({ streams: journal.streams() }),
  });
}
