import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { NodeEntry } from '../config/schema.ts';
import type { AppSettings } from '../config/app-schema.ts';
import { AppProcess } from './app-process.ts';
import { Instance } from './instance.ts';
import { choosePort } from './probe.ts';

/**
 * Starts one app-server process: picks its port (the slot's previous one if free, else the
 * lowest free one: seed 001), gives it its environment, and spawns it. Port choices are made
 * one at a time, so two starts never both find the same port free.
 */
export class InstanceStarter {
  private generation = 0;
  private turn: Promise<unknown> = Promise.resolve();
  /** Ports of the processes it started that have not ended: not free for another. */
  private readonly held = new Set<number>();
  private readonly node: NodeEntry;
  private readonly tableFile: string;
  private readonly appSocket: string;
  private readonly log: Logger;

  constructor(node: NodeEntry, tableFile: string, appSocket: string, log: Logger) {
    this.node = node;
    this.tableFile = tableFile;
    this.appSocket = appSocket;
    this.log = log;
  }

  /** The new instance, or why it could not start; `wanted()` is asked once the port is chosen (false: the start is dropped). */
  async start(slot: number, settings: AppSettings, previousPort: number | undefined, wanted: () => boolean): Promise<Instance | { error: string } | undefined> {
    const choice = this.turn.then(async () => {
      const port = await choosePort(this.node.host, settings, previousPort, this.held);
      if (port !== undefined) this.held.add(port);
      return port;
    });
    this.turn = choice.catch(() => undefined);
    const port = await choice;
    if (port === undefined) return wanted() ? { error: `every port of ${this.node.host}:${settings.basePort}-${settings.basePort + settings.portSpan - 1} is taken` } : undefined;
    const release = () => void this.held.delete(port);
    if (!wanted()) return void release();
    // spawn() would blame the program for a missing working directory: say what is missing.
    if (!existsSync(settings.cwd)) {
      release();
      return { error: `working directory ${settings.cwd} does not exist` };
    }
    const id = `${this.node.id}.${slot}.${++this.generation}`;
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...settings.env,
      PORT: String(port),
      HOST: this.node.host,
      COHORT_NODE: this.node.id,
      COHORT_CONFIG: this.tableFile,
      COHORT_INSTANCE: id,
      // The client library uses it for this node: on it, the node knows it is an app (no operator commands).
      COHORT_SOCKET: this.appSocket,
    };
    try {
      const proc = new AppProcess({ id, command: settings.command, cwd: settings.cwd, env }, this.log);
      void proc.ended.then(release);
      return new Instance(id, slot, this.node.host, port, proc, settings);
    } catch (err) {
      release();
      return { error: `cannot start ${settings.command[0]}: ${(err as Error).message}` };
    }
  }
}
