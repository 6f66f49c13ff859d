import type { z } from 'zod';
import { CohortError } from '../errors.ts';

/** Who is on the other end of a local socket connection: the node's operator (CLI, front), or an app process. */
export type Caller = 'operator' | 'app';

/** Who sent a command. */
export interface CommandContext {
  /** 'local': this node (its own code, or a process on its local sockets); else the peer node's id. */
  from: string;
  /** Set for a process on this node's local sockets (who it is); unset for the node's own code and for peers. */
  caller?: Caller;
  /** Set when it arrived as a critical message: it runs inside the inbox's transaction, which answers once committed. */
  critical?: boolean;
  /** The critical message's id, for a command that applies itself once per id ('itself' below, or a backup taking its home's writes). */
  mid?: string;
  /** The critical message's sender as the inbox keys it (the node, or the node and a home's lane). */
  sender?: string;
  /** The home whose lane it came in (issue 27): meant for whichever of the home and its backup holds its lease. */
  lane?: string;
}

export const LOCAL = 'local';

/**
 * Who may send a command:
 * - 'any': apps, the operator, other nodes;
 * - 'local': apps and the operator on this node's sockets (and the node's own code); not other nodes;
 * - 'operator': the operator (the CLI, a front) on any node's operator socket, which that node
 *   forwards; never an app. For what changes cluster-wide state or other apps;
 * - 'operator-local': the operator on this node's operator socket only;
 * - 'peers': other nodes' own code only (copies of sessions, hand-overs); never a process on a
 *   local socket, not here and not through its node to a peer (see refusal).
 */
export type Scope = 'any' | 'local' | 'operator' | 'operator-local' | 'peers';

export interface CommandDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  /** What it does, for `cohort call --help` style listings. */
  summary: string;
  args: S;
  /** Who may send it (see Scope). */
  scope: Scope;
  /**
   * May arrive as a critical message. `true`: the command is synchronous and runs inside the
   * receiver's transaction, together with the inbox's record of the message id. `'itself'`: the
   * command records the id (ctx.mid) in its own store's transaction with its effect, and answers a
   * second delivery with the first result (a home whose records are in PostgreSQL).
   */
  critical?: boolean | 'itself';
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
   * Why a process on a local socket may not send `name` to any node (undefined: it may). A peer
   * cannot tell a command its node forwarded for an app from one for the operator or from the
   * node's own: so the node checks here, whatever the target.
   */
  refusal(name: string, caller: Caller): string | undefined {
    const scope = this.commands.get(name)?.scope;
    if (scope === 'peers') return `'${name}' is sent by nodes only, never by a process on a local socket (to any node)`;
    if (caller === 'app' && (scope === 'operator' || scope === 'operator-local')) return `'${name}' is an operator command: refused from an app process (to any node)`;
    return undefined;
  }

  /** Whether `name` is refused to an app: a connection not yet known to be the operator's must be identified first. */
  needsOperator(name: string): boolean {
    const scope = this.commands.get(name)?.scope;
    return scope === 'operator' || scope === 'operator-local';
  }

  execute(name: string, args: unknown, ctx: CommandContext): unknown | Promise<unknown> {
    return this.run(this.lookup(name), args, ctx);
  }

  /** Whether `name` arrives as a critical message that applies itself once (see CommandDefinition.critical). */
  appliesItself(name: string): boolean {
    return this.commands.get(name)?.critical === 'itself';
  }

  /** Runs a critical message's command that applies itself once per message id. */
  async executeItself(name: string, args: unknown, ctx: CommandContext & { mid: string }): Promise<unknown> {
    const def = this.lookup(name);
    if (def.critical !== 'itself') throw new CohortError('internal', `'${name}' does not apply critical messages itself`);
    return this.run(def, args, { ...ctx, critical: true });
  }

  /** Runs a command that arrived as a critical message: only commands made for it. */
  executeCritical(name: string, args: unknown, ctx: CommandContext): unknown {
    const def = this.lookup(name);
    if (def.critical === 'itself') throw new CohortError('internal', `'${name}' applies critical messages itself`);
    if (!def.critical) throw new CohortError('refused', `'${name}' cannot be sent as a critical message`);
    const result = this.run(def, args, { ...ctx, critical: true });
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
    const scope = def.scope;
    if ((scope === 'local' || scope === 'operator-local') && ctx.from !== LOCAL) throw new CohortError('refused', `'${name}' may only be run by this node's own processes`);
    if ((scope === 'operator' || scope === 'operator-local') && ctx.caller === 'app') throw new CohortError('refused', `'${name}' is an operator command: refused from an app process`);
    if (scope === 'peers' && ctx.from === LOCAL) throw new CohortError('refused', `'${name}' is sent by other nodes only, never by an app`);
    const parsed = def.args.safeParse(args ?? {});
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ');
      throw new CohortError('bad_args', `${name}: ${why}`);
    }
    return def.run(parsed.data, ctx);
  }
}
