import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CohortError, toReplyError } from '../errors.ts';
import { FrameDecoder, encodeFrame } from './framing.ts';
import { AwakeClock } from './awake-clock.ts';
import { Heartbeat } from './heartbeat.ts';
import { validateMessage, type Message, type ReplyMessage, type RequestMessage } from './protocol.ts';

/** Executes a request that arrived on a channel; throw a CohortError to reply with its code. */
export type RequestHandler = (req: RequestMessage, channel: Channel) => unknown | Promise<unknown>;

export interface ChannelOptions {
  /** For logs and error messages: "link to B", "local client 3". */
  label: string;
  maxFrameBytes: number;
  requestTimeoutMs: number;
  heartbeat?: { intervalMs: number; deadAfterMs: number };
  /** What each heartbeat says of the sender's host table (issue 28). */
  heartbeatTable?: () => { version: number; hash: string } | undefined;
  onRequest?: RequestHandler;
}

/** Optional request fields: the target node (local socket), critical delivery. */
export type RequestExtras = Pick<RequestMessage, 'to' | 'crit' | 'mid' | 'oldest' | 'lane'>;

interface Pending {
  resolve: (data: unknown) => void;
  reject: (err: CohortError) => void;
  deadline: number;
}

/**
 * A framed, multiplexed request/reply conversation over one stream (a TLS link or a
 * local socket connection). Many requests may be in flight; replies match by id.
 * Frames written in one tick leave in one write. When the stream ends, every pending
 * request fails with con_lost: a caller always hears something.
 *
 * Events: 'control' (hello, welcome, refuse), 'close' (reason: Error | undefined).
 */
export class Channel extends EventEmitter {
  readonly socket: Duplex;
  label: string;
  onRequest: RequestHandler | undefined;
  private readonly decoder: FrameDecoder;
  private readonly requestTimeoutMs: number;
  private readonly pending = new Map<number, Pending>();
  private readonly heartbeat: Heartbeat | undefined;
  private readonly heartbeatTable: ChannelOptions['heartbeatTable'];
  /** Silence and deadlines count only while this process ran (src/net/awake-clock.ts). */
  private readonly clock: AwakeClock;
  private readonly timer: NodeJS.Timeout;
  private nextId = 1;
  private batch: Buffer[] = [];
  private flushScheduled = false;
  private closeReason: Error | undefined;
  closed = false;

  constructor(socket: Duplex, opts: ChannelOptions) {
    super();
    this.socket = socket;
    this.label = opts.label;
    this.onRequest = opts.onRequest;
    this.decoder = new FrameDecoder(opts.maxFrameBytes);
    this.requestTimeoutMs = opts.requestTimeoutMs;
    const tickMs = Math.min(opts.heartbeat?.intervalMs ?? 250, 250);
    this.clock = new AwakeClock(tickMs);
    this.heartbeatTable = opts.heartbeatTable;
    if (opts.heartbeat) this.heartbeat = new Heartbeat(opts.heartbeat.intervalMs, opts.heartbeat.deadAfterMs, this.clock.now());
    this.timer = setInterval(this.tick, tickMs);
    this.timer.unref();
    socket.on('data', this.onData);
    socket.on('error', (err) => {
      this.closeReason ??= err;
    });
    socket.on('close', () => this.close(this.closeReason));
  }

  /** Sends a request and resolves with the reply's data, or rejects with a CohortError. */
  request(cmd: string, args?: unknown, extra?: RequestExtras): Promise<unknown> {
    if (this.closed) return Promise.reject(new CohortError('con_lost', `${this.label} is closed`));
    const id = this.nextId++;
    const msg: RequestMessage = { t: 'req', id, cmd };
    if (args !== undefined) msg.args = args;
    if (extra) Object.assign(msg, extra);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadline: this.clock.now() + this.requestTimeoutMs });
      this.send(msg);
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  send(message: Message): void {
    if (this.closed) return;
    this.batch.push(encodeFrame(message));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** Ends the conversation; pending requests fail with con_lost. Safe to call twice. */
  close(reason?: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.flush();
    this.socket.end();
    // A peer that never reads must not keep the socket open forever.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    const why = reason ? `: ${reason.message}` : '';
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new CohortError('con_lost', `${this.label} closed before the reply${why}`));
    }
    this.emit('close', reason);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    if (this.socket.destroyed) return;
    this.socket.write(batch.length === 1 ? batch[0] : Buffer.concat(batch));
    this.heartbeat?.sent(this.clock.now());
  };

  private readonly onData = (chunk: Buffer): void => {
    // Bytes still buffered on a channel we closed (e.g. a replaced link) must not be acted on.
    if (this.closed) return;
    this.heartbeat?.heard(this.clock.now());
    try {
      this.decoder.push(chunk, this.onFrame);
    } catch (err) {
      this.fail(err as Error);
    }
  };

  private readonly onFrame = (raw: unknown): void => {
    if (this.closed) return;
    const msg = validateMessage(raw);
    switch (msg.t) {
      case 'res':
        return this.onReply(msg);
      case 'req':
        return this.onRequestFrame(msg);
      case 'hb':
        // Events: 'table' ({ version, hash }) when a heartbeat says which host table the peer holds.
        if (msg.tv !== undefined) this.emit('table', { version: msg.tv, hash: msg.th });
        return;
      default:
        this.emit('control', msg);
    }
  };

  private onReply(msg: ReplyMessage): void {
    const p = this.pending.get(msg.id);
    if (!p) return; // a reply after its timeout: the caller already heard con_lost
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.data);
    else p.reject(new CohortError(msg.code, msg.message));
  }

  private onRequestFrame(req: RequestMessage): void {
    const handler = this.onRequest;
    if (!handler) {
      this.send({ t: 'res', id: req.id, ok: false, code: 'refused', message: 'no requests accepted on this connection yet' });
      return;
    }
    let result: unknown;
    try {
      result = handler(req, this);
    } catch (err) {
      this.replyError(req.id, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (data) => this.send({ t: 'res', id: req.id, ok: true, data }),
        (err) => this.replyError(req.id, err),
      );
    } else {
      this.send({ t: 'res', id: req.id, ok: true, data: result });
    }
  }

  private replyError(id: number, err: unknown): void {
    const { code, message } = toReplyError(err);
    this.send({ t: 'res', id, ok: false, code, message });
  }

  /** A protocol fault: tell the other side why (if it still listens), then hang up. */
  private fail(err: Error): void {
    if (this.closed) return;
    const { code, message } = toReplyError(err);
    this.send({ t: 'refuse', code, message });
    this.close(err);
  }

  private readonly tick = (): void => {
    const now = this.clock.tick();
    if (this.heartbeat) {
      const action = this.heartbeat.tick(now);
      if (action === 'dead') {
        this.close(new CohortError('con_lost', `heard nothing for ${this.heartbeat.deadAfterMs} ms`));
        return;
      }
      if (action === 'send') {
        const table = this.heartbeatTable?.();
        this.send(table ? { t: 'hb', tv: table.version, th: table.hash } : { t: 'hb' });
      }
    }
    // Deadlines grow with ids (one timeout per channel), so the oldest come first.
    for (const [id, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(id);
      p.reject(new CohortError('con_lost', `${this.label}: no reply within ${this.requestTimeoutMs} ms`));
    }
  };
}
