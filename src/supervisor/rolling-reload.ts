import type { Logger } from 'pino';
import type { AppSettings } from '../config/app-schema.ts';
import type { AppPool } from './pool.ts';
import type { Slot } from './slot.ts';

/**
 * A rolling update of one node's pool: each instance in turn is replaced by one running the
 * new settings, and retired (drained) only once its replacement is ready. A replacement that
 * fails stops the reload: the instances not yet replaced keep serving, and what starts from
 * then on (a crash restart, a recycle) starts with the settings of before.
 */
export async function rollingReload(pool: AppPool, next: AppSettings, log: Logger): Promise<void> {
  const since = Date.now();
  const previous = pool.settings;
  pool.settings = next;
  pool.resize(next.instances);
  const slots = [...pool.slotList];
  pool.reloadState = { state: 'running', replaced: 0, total: slots.length, error: null };
  pool.registry.bump();
  log.info({ event: 'app_reload_started', instances: slots.length, command: next.command }, `rolling reload of ${slots.length} instances`);
  for (const slot of slots) {
    await startsSettled(slot);
    const inst = slot.current;
    // An instance started before the reload (even by a recycle just now) runs the old settings.
    if (inst && inst.settings !== next) {
      const ok = await pool.replace(inst, 'rolling reload');
      if (!ok) {
        const error = `the replacement of ${inst.id} did not become ready: ${slot.lastError ?? 'unknown'}; the instances not yet replaced keep serving`;
        pool.settings = previous;
        pool.reloadState = { ...pool.reloadState, state: 'failed', error };
        pool.registry.bump();
        log.error({ event: 'app_reload_failed', instance: inst.id, error }, error);
        return;
      }
    }
    pool.reloadState = { ...pool.reloadState, replaced: pool.reloadState.replaced + 1 };
    pool.registry.bump();
  }
  pool.reloadState = { ...pool.reloadState, state: 'done' };
  pool.registry.bump();
  log.info({ event: 'app_reload_done', instances: slots.length, ms: Date.now() - since }, 'rolling reload done');
}

/** Waits for what the slot is starting now (a recycle's replacement, a restart), a few in a row at most. */
async function startsSettled(slot: Slot): Promise<void> {
  for (let i = 0; i < 3; i++) {
    if (slot.launching) await slot.launching;
    const starting = slot.next ?? (slot.current?.state === 'starting' ? slot.current : undefined);
    if (!starting) return;
    await starting.outcome;
  }
}
