import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import { CohortError } from '../errors.ts';
import type { RequestHandler } from '../net/channel.ts';
import { LocalServer } from '../net/local-server.ts';
import type { RequestMessage } from '../net/protocol.ts';
import { SS } from '../net/socket-peers.ts';
import { CallerIdentity, type Identified } from './caller-identity.ts';

export interface LocalSocketsOptions {
  /** The operator's socket (cohort.sock): the CLI, fronts; an app found on it is treated as one. */
  operatorPath: string;
  /** The app instances' socket (app.sock, $COHORT_SOCKET): whoever comes on it is an app. */
  appPath: string;
  maxFrameBytes: number;
  requestTimeoutMs: number;
  registry: CommandRegistry;
  log: Logger;
  /** Runs or forwards a request that passed the gate. */
  send: (req: RequestMessage, who: Identified) => unknown;
}

const ON_APP_SOCKET: Identified = { caller: 'app', why: 'it came on the app socket' };
/** Before its connection is identified, a caller runs only what apps may (with an app's rights). */
const NOT_YET: Identified = { caller: 'app', why: 'not identified yet' };

/**
 * The node's two local sockets and the gate in front of both: a command is refused when its
 * scope does not admit the caller, whichever node it is for (a peer cannot tell an app's
 * command from the operator's). On the operator socket, a connection is identified (its
 * process: caller-identity.ts) once, as it opens; its commands that apps may send run at once,
 * the others wait for the answer.
 */
export class LocalSockets {
  private readonly opts: LocalSocketsOptions;
  private readonly operator: LocalServer;
  private readonly app: LocalServer;
  private readonly identity = new CallerIdentity();

  constructor(opts: LocalSocketsOptions) {
    this.opts = opts;
    const common = { maxFrameBytes: opts.maxFrameBytes, requestTimeoutMs: opts.requestTimeoutMs, log: opts.log };
    this.operator = new LocalServer({ ...common, path: opts.operatorPath, onConnection: (socket) => this.operatorConnection(socket) });
    this.app = new LocalServer({ ...common, path: opts.appPath, onConnection: () => (req) => this.gate(req, ON_APP_SOCKET) });
  }

  async listen(): Promise<void> {
    if (!SS) this.opts.log.error({ event: 'no_ss' }, 'ss (iproute2) not found: the operator socket cannot tell the operator from an app, so it refuses operator commands (maintenance, app reload) to everyone; install iproute2');
    await this.operator.listen();
    await this.app.listen();
  }

  close(): Promise<void> {
    return Promise.all([this.operator.close(), this.app.close()]).then(() => undefined);
  }

  private operatorConnection(socket: Socket): RequestHandler {
    let who: Identified | undefined;
    // Begun at once, once per connection: a front connects long before its first operator
    // command (lard.decide has a deadline of its own), which then need not wait.
    const identifying = this.identity.identify(socket).catch((err: Error): Identified => ({ caller: 'app', why: `identifying it failed (${err.message})` })).then((found) => {
      who = found;
      if (found.caller === 'app') this.opts.log.info({ event: 'app_on_operator_socket', why: found.why }, 'a connection to the operator socket counts as an app\'s');
      return found;
    });
    return (req) => {
      if (who) return this.gate(req, who);
      if (!this.opts.registry.needsOperator(req.cmd)) return this.gate(req, NOT_YET);
      return identifying.then((found) => this.gate(req, found));
    };
  }

  private gate(req: RequestMessage, who: Identified): unknown {
    const refusal = this.opts.registry.refusal(req.cmd, who.caller);
    if (refusal) throw new CohortError('refused', who.caller === 'app' && who !== ON_APP_SOCKET ? `${refusal}; this connection counts as an app's: ${who.why}` : refusal);
    return this.opts.send(req, who);
  }
}
