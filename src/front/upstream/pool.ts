import { UpstreamConnection, type UpstreamTls } from './connection.ts';
import { UpstreamError } from './upstream-error.ts';

export interface PoolOptions {
  maxConns: number;
  queueSize: number;
  queueTimeoutMs: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** No byte from the back-end for this long fails the request under way (504). */
  upstreamTimeoutMs: number;
  maxHeaderBytes: number;
}

/** A session to a back-end is resumed for an hour at most: then a full handshake checks its certificate again. */
const SESSION_MAX_AGE_MS = 3_600_000;

type Waiter = { cb: (err: Error | null, conn?: UpstreamConnection) => void; deadline: number };

/**
 * Keep-alive connections to one back-end: idle ones are reused newest first, at most
 * maxConns are open, and callers beyond that wait in a bounded queue (a full queue or a
 * wait past queueTimeoutMs is an error the proxy turns into another back-end or a 503).
 */
export class UpstreamPool {
  readonly host: string;
  readonly port: number;
  private opts: PoolOptions;
  private readonly idle: UpstreamConnection[] = [];
  /** Connections checked out (each marked `checkedOut`: a flag and a count, not a Set, on the per-request path). */
  private busy = 0;
  private readonly waiters: Waiter[] = [];
  private connecting = 0;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  /** HTTPS to the back-end: new connections check its certificate against these CAs. */
  private tlsSettings: UpstreamTls | undefined;
  /** The last TLS session the back-end gave, and when: new connections resume it (until the trust changes, the back-end fails a check, or an hour passes). */
  private tlsSession: Buffer | undefined;
  private tlsSessionAt = 0;

  constructor(host: string, port: number, opts: PoolOptions, tls?: UpstreamTls) {
    this.host = host;
    this.port = port;
    this.opts = opts;
    this.tlsSettings = tls;
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  configure(opts: PoolOptions): void {
    this.opts = opts;
  }

  get tls(): UpstreamTls | undefined {
    return this.tlsSettings;
  }

  /** New trust (a reload): a session made under the old one is not resumed. */
  set tls(tls: UpstreamTls | undefined) {
    if (tls?.trust !== this.tlsSettings?.trust) this.forgetTlsSession();
    this.tlsSettings = tls;
  }

  /** The next connection makes a full handshake, its certificate checked again (the back-end failed a check). */
  forgetTlsSession(): void {
    this.tlsSession = undefined;
  }

  get open(): number {
    return this.idle.length + this.busy + this.connecting;
  }

  get inUse(): number {
    return this.busy;
  }

  get queued(): number {
    return this.waiters.length;
  }

  acquire(cb: (err: Error | null, conn?: UpstreamConnection) => void): void {
    if (this.closed) return cb(new UpstreamError('closed', 'pool closed'));
    let conn = this.idle.pop();
    while (conn?.closed) conn = this.idle.pop(); // the back-end closed it while idle
    if (conn) {
      this.lend(conn);
      return cb(null, conn);
    }
    if (this.busy + this.connecting < this.opts.maxConns) return this.dial(cb);
    if (this.waiters.length >= this.opts.queueSize) return cb(new UpstreamError('queue_full', `${this.host}:${this.port}: ${this.waiters.length} requests already waiting`));
    this.waiters.push({ cb, deadline: Date.now() + this.opts.queueTimeoutMs });
  }

  /** Closes every connection; idle ones at once, busy ones as they finish. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const c of this.idle.splice(0)) c.destroy();
    for (const w of this.waiters.splice(0)) w.cb(new UpstreamError('closed', 'pool closed'));
  }

  private dial(cb: (err: Error | null, conn?: UpstreamConnection) => void): void {
    this.connecting++;
    const settings = this.tlsSettings;
    // Kept only under the trust it was dialled with (a reload may have changed it meanwhile).
    const keep = (session: Buffer) => {
      if (this.tlsSettings?.trust !== settings?.trust) return;
      this.tlsSession = session;
      this.tlsSessionAt = Date.now();
    };
    const fresh = this.tlsSession !== undefined && Date.now() - this.tlsSessionAt < SESSION_MAX_AGE_MS ? this.tlsSession : undefined;
    const tls = settings && { ...settings, session: fresh, onSession: keep };
    UpstreamConnection.open(this.host, this.port, this.opts.connectTimeoutMs, this.opts.maxHeaderBytes, this.release, tls).then(
      (conn) => {
        this.connecting--;
        conn.setTimeout(this.opts.upstreamTimeoutMs);
        this.lend(conn);
        cb(null, conn);
      },
      (err: Error) => {
        this.connecting--;
        if (tls) this.forgetTlsSession(); // a failed dial resumes nothing next time
        cb(err);
        this.serveWaiter();
      },
    );
  }

  private readonly release = (conn: UpstreamConnection, reusable: boolean): void => {
    if (!conn.checkedOut) return;
    conn.checkedOut = false;
    this.busy--;
    if (reusable && !this.closed) {
      const waiter = this.waiters.shift();
      if (waiter) {
        this.lend(conn);
        return waiter.cb(null, conn);
      }
      this.idle.push(conn);
    }
    this.serveWaiter();
  };

  private lend(conn: UpstreamConnection): void {
    conn.checkedOut = true;
    this.busy++;
  }

  private serveWaiter(): void {
    if (this.waiters.length && this.busy + this.connecting < this.opts.maxConns) this.dial(this.waiters.shift()!.cb);
  }

  private sweep(): void {
    const now = Date.now();
    while (this.waiters.length && this.waiters[0].deadline <= now) {
      this.waiters.shift()!.cb(new UpstreamError('queue_timeout', `${this.host}:${this.port}: waited ${this.opts.queueTimeoutMs} ms for a connection`));
    }
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i];
      if (c.closed || now - c.lastUsed > this.opts.idleTimeoutMs) this.idle.splice(i, 1)[0].destroy();
    }
  }
}
