import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import type { CriticalService } from '../critical/critical-service.ts';
import { registerAccessCommands } from '../records/access-commands.ts';
import type { DomainPolicy } from '../records/domain-policy.ts';
import { registerHomeCommands } from '../records/home-commands.ts';
import { HomeLookup, type CopiesHeld } from '../records/home-lookup.ts';
import { NameClaims } from '../records/name-claims.ts';
import type { FailureLimiter } from '../records/rate-limit.ts';
import type { HomeStore } from '../records/stores/home-store.ts';
import type { BackupGate } from '../critical/inbox.ts';
import type { HomeFence } from '../homes/terms/home-term.ts';
import type { TakenOver } from '../homes/terms/taken-over.ts';

/** Users and records on a node: the home side (library nodes) and the access side (every node). */
export function registerRecordCommands(registry: CommandRegistry, deps: { self: string; table: HostTable; db: DatabaseSync; store: HomeStore; logins: FailureLimiter; backup: BackupGate; lease: HomeFence; takenOver: (domain: string, user: string) => TakenOver | undefined; copies: CopiesHeld; policy: DomainPolicy; critical: CriticalService; call: (to: string, cmd: string, args: unknown) => Promise<unknown>; log: Logger }): void {
  const { self, table, db, store, backup, copies, policy, critical, call, log } = deps;
  registerHomeCommands(registry, {
    self,
    table,
    store,
    claims: new NameClaims(db),
    backup,
    lease: deps.lease,
    takenOver: deps.takenOver,
    copies,
    call,
    policy,
    limiter: deps.logins,
    log,
  });
  registerAccessCommands(registry, {
    table,
    homes: new HomeLookup(table, db, call),
    critical,
    call,
    // This node asking itself as a peer (it is the backup of the home it cannot reach).
    callAsPeer: async (to, cmd, args) => (to === self ? registry.execute(cmd, args, { from: self }) : call(to, cmd, args)),
    log,
  });
}
