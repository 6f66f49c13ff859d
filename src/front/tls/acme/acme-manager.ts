import type { Logger } from 'pino';
import type { AcmeSection } from '../../../config/tls-schema.ts';
import { DNS_NAME } from '../../../host-name.ts';
import { Backoff, doubling } from '../../../net/backoff.ts';
import { ChallengeAnswers } from './challenges.ts';
import type { AcmeItems } from '../../../acme/acme-items.ts';
import { MAX_ACME_TTL_MS } from '../../../acme/acme-store.ts';
import type { AcmeCache } from './acme-cache.ts';
import { newAccountKey, orderCertificate } from './acme-issuer.ts';
import { acmeItemKey, checkIssued, newerIssued, type HeldCertificate, type IssuedPem } from '../../../acme/issued-certificate.ts';

/** An order holds its name's lease this long at most: a front that died ordering frees the name after it. */
const ORDER_LEASE_MS = 10 * 60_000;
/** While another front orders a name, this one looks for the result this often. */
const WAIT_POLL_MS = 2000;
/** A certificate not yet due is read again this often: a renewal made by another front is taken up. */
const RECHECK_MS = 10 * 60_000;
/** Retries when the node network does not answer (not the CA's failures: those back off per acme.retry). */
const HOME_RETRY = { minMs: 1000, maxMs: 60_000 };
/** Handshakes that may wait at once for one on-demand name, and how long one waits at most. */
const MAX_WAITERS = 100;
const ON_DEMAND_WAIT_MS = 30_000;

interface NameState {
  name: string;
  held: HeldCertificate | undefined;
  timer: NodeJS.Timeout | undefined;
  homeRetry: Backoff;
  /** Handshakes waiting for an on-demand name's first certificate. */
  waiting: (() => void)[];
  /** Followed since a handshake asked for it (not in acme.names): dropped again if its order fails. */
  onDemand: boolean;
  /** A look at the home is under way. */
  stepping: boolean;
}

/** When a certificate is renewed: once a third of its lifetime is left (Caddy's rule; Let's Encrypt's 6-day certificates at 2 days left). */
export function renewalDue(notBefore: number, notAfter: number): number {
  return notAfter - (notAfter - notBefore) / 3;
}

/**
 * Certificates from an ACME CA for the front's names (front.listen.tls.acme), kept in the node
 * network (acme-items.ts) so that every front serves the same one: each front reads the stored
 * certificate; when it is missing or due, the front that takes the name's lease orders it and
 * stores the result, the others read it once it is there. A failed order is recorded there too,
 * with its back-off, so no front orders again before the back-off ends. On-demand names (the
 * allow-list) are followed from their first handshake on.
 */
export class AcmeManager {
  readonly challenges: ChallengeAnswers;
  private readonly settings: AcmeSection;
  private readonly items: AcmeItems;
  private readonly holder: string;
  private readonly log: Logger;
  private readonly changed: () => void;
  private readonly names = new Map<string, NameState>();
  /** This front's own copies: served at once after a restart, even while the home is down. */
  private readonly cache: AcmeCache | undefined;
  private stopped = false;

  constructor(opts: { settings: AcmeSection; items: AcmeItems; holder: string; log: Logger; changed: () => void; cache?: AcmeCache }) {
    this.cache = opts.cache;
    this.settings = opts.settings;
    this.items = opts.items;
    this.holder = opts.holder;
    this.log = opts.log.child({ acme: opts.settings.directory });
    this.changed = opts.changed;
    this.challenges = new ChallengeAnswers(opts.items);
  }

  /**
   * Puts this front's own copies in service (before its listener opens), touching nothing on the
   * home, and drops the copies of names it no longer serves.
   */
  loadCopies(): void {
    const allow = this.settings.onDemand?.allow;
    this.cache?.prune((name) => this.settings.names.includes(name) || (allow !== undefined && allowed(allow, name)));
    for (const name of this.settings.names) this.follow(name, false, false);
  }

  /** Follows every configured name on the home: reads, orders when due (once the listener is open). */
  start(): void {
    for (const name of this.settings.names) this.follow(name);
    for (const s of this.names.values()) if (s.timer === undefined && !s.stepping) void this.step(s);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.names.values()) {
      clearTimeout(s.timer);
      this.wakeAll(s);
    }
  }

  /** The certificates held now, for the listener's certificate set. */
  issued(): IssuedPem[] {
    return [...this.names.values()].flatMap((s) => (s.held ? [s.held.pem] : []));
  }

  /**
   * For a handshake naming a host without a certificate: if the allow-list takes it, a promise
   * that resolves once its first certificate is here (or its order failed); else undefined.
   */
  onDemand(name: string): Promise<void> | undefined {
    const allow = this.settings.onDemand;
    // The SNI reader takes more than a certificate can name: only a DNS name the allow-list takes.
    if (this.stopped || !allow || !DNS_NAME.test(name) || !allowed(allow.allow, name)) return undefined;
    let s = this.names.get(name);
    if (s?.held) return undefined;
    if (!s) {
      if (this.names.size >= this.settings.names.length + allow.maxNames) return undefined;
      s = this.follow(name, true);
      if (s.held) return undefined; // this front's copy serves it
    }
    if (s.waiting.length >= MAX_WAITERS) return undefined;
    const state = s;
    return new Promise((resolve) => {
      const timer = setTimeout(() => wake(), ON_DEMAND_WAIT_MS); // the home may not answer: no waiter stays for ever
      const wake = () => {
        clearTimeout(timer);
        const at = state.waiting.indexOf(wake);
        if (at >= 0) state.waiting.splice(at, 1);
        resolve();
      };
      state.waiting.push(wake);
    });
  }

  private follow(name: string, onDemand = false, step = true): NameState {
    const known = this.names.get(name);
    if (known) return known;
    const s: NameState = { name, held: undefined, timer: undefined, homeRetry: new Backoff(HOME_RETRY.minMs, HOME_RETRY.maxMs), waiting: [], onDemand, stepping: false };
    this.names.set(name, s);
    this.takeUp(s, this.cache?.read(name), false);
    if (step) void this.step(s);
    return s;
  }

  private wakeAll(s: NameState): void {
    for (const wake of [...s.waiting]) wake();
  }

  private schedule(s: NameState, ms: number): void {
    clearTimeout(s.timer);
    if (this.stopped || this.names.get(s.name) !== s) return;
    s.timer = setTimeout(() => void this.step(s), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    s.timer.unref();
  }

  private async step(s: NameState): Promise<void> {
    if (this.stopped || this.names.get(s.name) !== s) return;
    let next: number;
    s.stepping = true;
    try {
      next = await this.renewIfDue(s);
      s.homeRetry.reset();
    } catch (err) {
      next = s.homeRetry.next();
      this.log.warn({ event: 'acme_home_unreachable', name: s.name, home: this.items.home, err: (err as Error).message, retryInMs: next }, `cannot reach the ACME state on ${this.items.home} for ${s.name}; the certificate in service stays`);
    } finally {
      s.stepping = false;
    }
    this.schedule(s, next);
  }

  /** One look at a name: takes up the stored certificate, orders one if due and the lease is ours; answers when to look again. */
  private async renewIfDue(s: NameState): Promise<number> {
    const now = Date.now();
    this.takeUp(s, (await this.items.get(this.key('cert', s.name)))?.value);
    if (s.held && renewalDue(s.held.notBefore, s.held.notAfter) > now) return Math.min(renewalDue(s.held.notBefore, s.held.notAfter) - now, RECHECK_MS);
    // A failed order's back-off holds for every front.
    const failed = await this.items.get(this.key('failed', s.name));
    if (failed && failedUntil(failed.value) > now) {
      this.wakeAll(s); // an on-demand handshake does not wait out a back-off
      return Math.max(1000, Math.min(failedUntil(failed.value) - now, RECHECK_MS));
    }
    const lease = await this.items.claim(this.key('order', s.name), this.holder, ORDER_LEASE_MS);
    if (!lease.granted) return WAIT_POLL_MS;
    try {
      // Another front may have stored a new one and let the lease go between the read and the claim.
      this.takeUp(s, (await this.items.get(this.key('cert', s.name)))?.value);
      if (!s.held || renewalDue(s.held.notBefore, s.held.notAfter) <= Date.now()) await this.order(s, failed);
    } finally {
      await this.items.release(this.key('order', s.name), this.holder).catch(() => undefined);
    }
    if (!s.held) return WAIT_POLL_MS;
    const due = renewalDue(s.held.notBefore, s.held.notAfter) - Date.now();
    if (due > 0) return Math.min(due, RECHECK_MS);
    // Due as it arrived (the CA's lifetime is shorter than an order takes): not again at once.
    this.log.warn({ event: 'acme_certificate_due_on_arrival', name: s.name, notAfter: new Date(s.held.notAfter).toISOString() }, `the certificate for ${s.name} is due for renewal as it arrives`);
    return this.settings.retry.minS * 1000;
  }

  private async order(s: NameState, lastFailure: { value: string } | undefined): Promise<void> {
    const started = Date.now();
    this.log.info({ event: 'acme_order_placed', name: s.name, holder: this.holder, renewing: s.held?.serial ?? null }, `ordering a certificate for ${s.name}`);
    try {
      const accountKey = await this.accountKey();
      const pem = await orderCertificate({
        settings: this.settings,
        accountKey,
        name: s.name,
        hooks: { http: (token, answer) => this.challenges.setHttp(token, answer), alpn: (name, pair) => this.challenges.setAlpn(name, pair) },
      });
      const held = checkIssued(pem, s.name); // what the CA sent is checked before it is served or stored
      if (!held) throw new Error(`the CA answered a certificate that is not for ${s.name} with its key`);
      this.takeUp(s, JSON.stringify(pem));
      // Served here already; the other fronts get it from the home (if this fails they order their own).
      await this.items.put(this.key('cert', s.name), JSON.stringify(pem)).catch((err: Error) => this.log.error({ event: 'acme_store_failed', name: s.name, home: this.items.home, err: err.message }, `the certificate for ${s.name} is served here but could not be stored on ${this.items.home}: ${err.message}`));
      if (lastFailure) await this.items.remove(this.key('failed', s.name)).catch(() => undefined);
      this.log.info({ event: 'acme_certificate_issued', name: s.name, serial: held.serial, notAfter: new Date(held.notAfter).toISOString(), ms: Date.now() - started }, `certificate for ${s.name} issued; renewal at ${new Date(renewalDue(held.notBefore, held.notAfter)).toISOString()}`);
    } catch (err) {
      const attempts = (lastFailure ? failedAttempts(lastFailure.value) : 0) + 1;
      const { minS, maxS } = this.settings.retry;
      const delayMs = doubling(minS * 1000, maxS * 1000, attempts - 1);
      const message = String((err as Error).message).slice(0, 500);
      this.log.error({ event: 'acme_order_failed', name: s.name, attempts, retryInS: delayMs / 1000, err: message }, `the order for ${s.name} failed (attempt ${attempts}); the next in ${delayMs / 1000} s: ${message}`);
      try {
        // Kept past its back-off (so the next failure counts on from it); removed by a success.
        await this.items.put(this.key('failed', s.name), JSON.stringify({ attempts, until: Date.now() + delayMs, err: message }), Math.min(delayMs + maxS * 1000, MAX_ACME_TTL_MS));
      } finally {
        // An on-demand handshake waits no longer: it gets what the listener has (the default, or none).
        this.wakeAll(s);
        // A name only handshakes asked for is followed no more (the record keeps the next one from ordering before the back-off ends).
        if (s.onDemand && !s.held) this.unfollow(s);
      }
    }
  }

  private unfollow(s: NameState): void {
    clearTimeout(s.timer);
    this.names.delete(s.name);
  }

  /** The cluster's account key for this directory: made once, the first stored wins. */
  private async accountKey(): Promise<string> {
    const key = this.key('account', 'key');
    return (await this.items.get(key))?.value ?? (await this.items.put(key, await newAccountKey(), undefined, true));
  }

  /** Serves a stored certificate that is new to this front and valid. */
  private takeUp(s: NameState, stored: string | undefined, keepCopy = true): void {
    const held = newerIssued(stored, s.name, s.held);
    if (!held) return;
    s.held = held;
    if (keepCopy) this.cache?.write(s.name, stored!);
    this.changed();
    this.wakeAll(s);
  }

  private key(kind: string, subject: string): string {
    return acmeItemKey(this.settings.directory, kind, subject);
  }
}

function failedAttempts(value: string): number {
  try {
    const n = (JSON.parse(value) as { attempts?: unknown }).attempts;
    return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 100 ? n : 1;
  } catch {
    return 1;
  }
}

function failedUntil(value: string): number {
  try {
    const until = (JSON.parse(value) as { until?: unknown }).until;
    return typeof until === 'number' ? until : Date.now() + 60_000;
  } catch {
    return Date.now() + 60_000;
  }
}

/** Whether an allow-list entry takes a name: the name itself, or `*.suffix` for one label under suffix. */
export function allowed(allow: string[], name: string): boolean {
  const dot = name.indexOf('.');
  return allow.some((entry) => entry === name || (dot > 0 && entry === `*${name.slice(dot)}`));
}
