import type { AppSettings } from '../config/app-schema.ts';
import type { AppProcess } from './app-process.ts';
import type { InstanceRecord, InstanceState } from './registry.ts';

/** One app-server process of a slot, as the supervisor tracks it. */
export class Instance {
  readonly id: string;
  readonly slot: number;
  readonly port: number;
  readonly host: string;
  readonly proc: AppProcess;
  /** The settings it was started with: a reload changes them for its replacements only. */
  readonly settings: AppSettings;
  state: InstanceState = 'starting';
  requests = 0;
  sessions: number | null = null;
  rss: number | null = null;
  failedProbes = 0;
  readyAt = 0;
  dyingSince = 0;
  /** We are stopping it: its exit is not a crash. */
  stopping = false;
  probeTimer: NodeJS.Timeout | undefined;
  /** true once ready, false if it ended first. */
  readonly outcome: Promise<boolean>;
  settle!: (ready: boolean) => void;

  constructor(id: string, slot: number, host: string, port: number, proc: AppProcess, settings: AppSettings) {
    this.id = id;
    this.settings = settings;
    this.slot = slot;
    this.host = host;
    this.port = port;
    this.proc = proc;
    this.outcome = new Promise((resolve) => (this.settle = resolve));
  }

  record(restarts: number, lastError: string | null): InstanceRecord {
    return {
      id: this.id,
      slot: this.slot,
      state: this.state,
      host: this.host,
      port: this.port,
      pid: this.proc.pid,
      startedAt: this.proc.startedAt,
      requests: this.requests,
      restarts,
      sessions: this.sessions,
      rssBytes: this.rss,
      lastError,
      retryAt: null,
    };
  }
}
