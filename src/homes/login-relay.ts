import type { Logger } from 'pino';
import type { FailureSink } from '../records/rate-limit.ts';

/** A failed login at the home, or a right one that forgave the failures before it: [what, user, when]. */
export type LoginEvent = ['fail' | 'forgive', user: string, at: number];

/** Events held for the backup at most (the oldest go first); sent at most this many at a time. */
export const MAX_HELD_EVENTS = 10_000;
export const MAX_SENT_EVENTS = 1000;
const SEND_MS = 1000;

type Call = (to: string, cmd: string, args: unknown) => Promise<unknown>;

/**
 * Tells the other copy of a home's users of the failed logins checked on this one, once a
 * second (issue 27): the home tells its backup, so that the backup, checking logins while the
 * home is down, counts the home's failures and its own against the one limit; the backup tells
 * the home what it checked on its copy meanwhile, once the home is back. Apart from the home's
 * log on purpose: failures for names nobody holds come at the rate of password checks, and must
 * neither grow the log nor push records out of it. Held in memory, bounded (the oldest go
 * first); what the other did not take is sent again. Only names of the home's domain: a peer may
 * ask about a name of its own domain at any library node, and the other copy takes only those.
 */
export class LoginRelay implements FailureSink {
  private readonly home: string;
  private readonly domain: string;
  /** The other copy: the home's backup, or the home. */
  private readonly to: string;
  private readonly call: Call;
  private readonly logger: Logger;
  private readonly maxHeld: number;
  private held: LoginEvent[] = [];
  private dropped = 0;
  private busy = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: { home: string; domain: string; to: string; call: Call; logger: Logger; maxHeld?: number }) {
    this.maxHeld = opts.maxHeld ?? MAX_HELD_EVENTS;
    this.home = opts.home;
    this.domain = opts.domain;
    this.to = opts.to;
    this.call = opts.call;
    this.logger = opts.logger;
  }

  failed(key: string, at: number): void {
    this.hold('fail', key, at);
  }

  forgiven(key: string, at: number): void {
    this.hold('forgive', key, at);
  }

  start(): void {
    this.timer = setInterval(() => void this.send(), SEND_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private hold(what: LoginEvent[0], key: string, at: number): void {
    const cut = key.indexOf('/');
    if (key.slice(0, cut) !== this.domain) return;
    this.held.push([what, key.slice(cut + 1), at]);
    if (this.held.length > this.maxHeld) {
      this.held.splice(0, this.held.length - this.maxHeld);
      this.dropped++;
    }
  }

  private async send(): Promise<void> {
    if (this.busy || this.held.length === 0) return;
    this.busy = true;
    const events = this.held.slice(0, MAX_SENT_EVENTS);
    try {
      await this.call(this.to, 'home.logins', { home: this.home, events });
      // Taken: those sent go (unless the bound already pushed some of them out).
      const sent = new Set(events);
      this.held = this.held.filter((e) => !sent.has(e));
      if (this.dropped) {
        this.logger.warn({ event: 'home_logins_dropped', to: this.to, home: this.home, times: this.dropped }, `failed logins of ${this.home}'s users were held for ${this.to} past their bound (${this.maxHeld}): the oldest went`);
        this.dropped = 0;
      }
    } catch {
      // The backup is away: they are sent again with the next ones.
    } finally {
      this.busy = false;
    }
  }
}
