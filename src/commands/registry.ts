import type { z } from 'zod';
import { CohortError } from '../errors.ts';

/** Who sent a command: an app process on this node ('local'), or a peer node by id. */
export interface CommandContext {
  from: string;
}

export const LOCAL = 'local';

export interface CommandDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  /** What it does, for `cohort call --help` style listings. */
  summary: string;
  args: S;
  /**
   * 'local': only this node's own processes may run it; 'any': peers too; 'peers': only the
   * other nodes' own code (copies of sessions, hand-overs), never an app: not here, and not
   * through its node's local socket to a peer (see mayComeFromApp).
   */
  scope: 'local' | 'any' | 'peers';
  /**
   * May arrive as a critical message. Such a command must be synchronous: it runs inside
   * the receiver's transaction, together with the record of the message id.
   */
  critical?: boolean;
  run: (args: z.output<S>, ctx: CommandContext) => unknown | Promise<unknown>;
}

/** Named commands with validated arguments (seed 000's lond command set). */
export class CommandRegistry {
  private readonly commands = new Map<string, CommandDefinition>();

  register<S extends z.ZodType>(def: CommandDefinition<S>): void {
    if (this.commands.has(def.name)) throw new Error(`command '${def.name}' registered twice`);
    this.commands.set(def.name, def as unknown as CommandDefinition);
  }

  names(): string[] {
    return [...this.commands.keys()].sort();
  }

  /**
   * Whether an app on the local socket may send `name` to any node. A peer cannot tell a
   * command its node forwarded for an app from the node's own: so the node checks here.
   */
  mayComeFromApp(name: string): boolean {
    return this.commands.get(name)?.scope !== 'peers';
  }

  execute(name: string, args: unknown, ctx: CommandContext): unknown | Promise<unknown> {
    return this.run(this.lookup(name), args, ctx);
  }

  /** Runs a command that arrived as a critical message: only commands made for it. */
  executeCritical(name: string, args: unknown, ctx: CommandContext): unknown {
    const def = this.lookup(name);
    if (!def.critical) throw new CohortError('refused', `'${name}' cannot be sent as a critical message`);
    const result = this.run(def, args, ctx);
    if (result instanceof Promise) throw new CohortError('internal', `critical command '${name}' must be synchronous`);
    return result;
  }

  private lookup(name: string): CommandDefinition {
    const def = this.commands.get(name);
    if (!def) throw new CohortError('unknown_cmd', `no command '${name}' (known: ${this.names().join(', ')})`);
    return def;
  }

  private run(def: CommandDefinition, args: unknown, ctx: CommandContext): unknown | Promise<unknown> {
    const name = def.name;
    if (def.scope === 'local' && ctx.from !== LOCAL) throw new CohortError('refused', `'${name}' may only be run by this node's own processes`);
    if (def.scope === 'peers' && ctx.from === LOCAL) throw new CohortError('refused', `'${name}' is sent by other nodes only, never by an app`);
    const parsed = def.args.safeParse(args ?? {});
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ');
      throw new CohortError('bad_args', `${name}: ${why}`);
    }
    return def.run(parsed.data, ctx);
  }
}
