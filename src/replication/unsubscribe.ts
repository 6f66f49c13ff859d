import type { Logger } from 'pino';
import type { CriticalService } from '../critical/critical-service.ts';
import type { CopyStore } from './copy-store.ts';

export interface UnsubscribeDeps {
  copies: CopyStore;
  critical: CriticalService;
  log: Logger;
}

/** Ends this node's subscription to `url` (a copy dropped, evicted, or not wanted): its generation, for the notice to `home`. */
export function endSubscription(deps: UnsubscribeDeps, url: string, home: string): number {
  const gen = deps.copies.nextGen();
  deps.copies.ended(url, home, gen);
  return gen;
}

/** U3c: tells `home` to stop sending updates of `url`, as a critical message (it arrives once the home is back). */
export function sendUnsubscribe(deps: UnsubscribeDeps, home: string, url: string, gen: number): void {
  deps.critical.send(home, 'res.unsubscribe', { url, gen }).catch((err: unknown) => {
    deps.log.error({ event: 'unsubscribe_failed', url, home, err: (err as Error).message }, `unsubscribe from ${url} at ${home} failed`);
  });
}
