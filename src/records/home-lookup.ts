import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import { backupOf } from '../homes/backup-of.ts';
import { RecentMap } from '../recent-map.ts';

const MEMORY_CAP = 10_000;

/**
 * What a library node answers to home.query / res.author: parsed, never taken as given. A backup
 * also names the home whose copy holds her (`copyOf`), so she is found while her home is down.
 * Its "no" proves nothing of the home: a copy may be behind (users made while it was out of step).
 */
const homeAnswer = z.object({ home: z.boolean(), copyOf: z.string().max(64).optional() });
type HomeAnswer = z.output<typeof homeAnswer>;

/** What a library node tells of the copies it keeps of other homes (issue 27). */
export interface CopiesHeld {
  /** The home whose copy here holds this user, if any. */
  copyHolding(domain: string, user: string): string | undefined;
}

/** Sends a command to a node (this one or a peer) and returns the reply. */
export type Call = (to: string, cmd: string, args: unknown) => Promise<unknown>;

/**
 * Finds a user's home node (seed 000, step D2): asks every library node of her domain at
 * once and takes the one that says yes. Answers are cached in memory and in the node's
 * database, so writes keep flowing (as critical messages) while her home is down.
 */
export class HomeLookup {
  private readonly table: HostTable;
  private readonly call: Call;
  /**
   * In front of the homes table. Keys are client-supplied names, but only names some library
   * node said live there get in; still capped at MEMORY_CAP, oldest first out (the table
   * still has them), so the cache's size does not grow with the number of users.
   */
  private readonly memory = new RecentMap<string, string>(MEMORY_CAP);
  private readonly get_: StatementSync;
  private readonly put_: StatementSync;
  private readonly del_: StatementSync;

  private readonly query: string;
  private readonly log: Logger | undefined;

  /**
   * `query`: the command each library node answers { home: boolean } to: home.query (records:
   * only nodes her domain shares them with may ask) or res.author (resources: any node of the
   * cluster, since a resource open to the cluster must be found from anywhere).
   */
  constructor(table: HostTable, db: DatabaseSync, call: Call, query = 'home.query', log?: Logger) {
    this.table = table;
    this.call = call;
    this.query = query;
    this.log = log;
    db.exec(`CREATE TABLE IF NOT EXISTS homes (
      domain TEXT NOT NULL, user TEXT NOT NULL, home TEXT NOT NULL, found INTEGER NOT NULL,
      PRIMARY KEY (domain, user)
    ) WITHOUT ROWID`);
    this.get_ = db.prepare('SELECT home FROM homes WHERE domain = ? AND user = ?');
    this.put_ = db.prepare('INSERT OR REPLACE INTO homes (domain, user, home, found) VALUES (?, ?, ?, ?)');
    this.del_ = db.prepare('DELETE FROM homes WHERE domain = ? AND user = ?');
  }

  /** The home remembered for her (memory, then the homes table), if it is still a node of the table. */
  remembered(domain: string, user: string): string | undefined {
    const key = `${domain}/${user}`;
    const cached = this.memory.get(key) ?? (this.get_.get(domain, user) as { home: string } | undefined)?.home;
    if (!cached || !this.table.nodes.some((n) => n.id === cached)) return undefined;
    this.memory.set(key, cached);
    return cached;
  }

  async find(domain: string, user: string): Promise<string> {
    const cached = this.remembered(domain, user);
    if (cached) return cached;
    const key = `${domain}/${user}`;
    const libraries = this.table.nodes.filter((n) => n.domain === domain && n.role === 'library').map((n) => n.id);
    if (!libraries.length) throw new CohortError('no_such_user', `domain '${domain}' has no library nodes`);
    const answers = await Promise.allSettled(libraries.map(async (id) => this.parsed(id, await this.call(id, this.query, { domain, user }), `${user}@${domain}`)));
    const said = (i: number): HomeAnswer | undefined => (answers[i].status === 'fulfilled' ? (answers[i] as PromiseFulfilledResult<HomeAnswer>).value : undefined);
    // Her home said yes; or, while it cannot answer, its backup says its copy holds her (only
    // the home's own backup is taken at its word: another node naming a home proves nothing).
    const home =
      libraries.find((_id, i) => said(i)?.home) ??
      libraries.flatMap((id, i) => {
        const of = said(i)?.copyOf;
        return of !== undefined && libraries.includes(of) && answers[libraries.indexOf(of)].status === 'rejected' && backupOf(this.table, of) === id ? [of] : [];
      })[0];
    if (home) {
      this.memory.set(key, home);
      this.put_.run(domain, user, home, Date.now());
      return home;
    }
    const failed = answers.flatMap((a, i) => (a.status === 'rejected' ? [{ id: libraries[i], err: a.reason as CohortError }] : []));
    if (failed.length === 0) throw new CohortError('no_such_user', `no library node of domain '${domain}' knows ${user}`);
    const refused = failed.find((f) => f.err.code === 'refused');
    if (refused) throw new CohortError('refused', refused.err.message);
    throw new CohortError('con_lost', `cannot tell where ${user}@${domain} lives: ${failed.map((f) => `${f.id}: ${f.err.message}`).join('; ')}`);
  }

  /** A library node's answer, or a refusal (logged) when it is not one: a failed answer, not a yes. */
  private parsed(from: string, answer: unknown, who: string): HomeAnswer {
    const out = homeAnswer.safeParse(answer);
    if (out.success) return out.data;
    const why = out.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`).join('; ');
    this.log?.warn({ event: 'home_answer_refused', cmd: this.query, from, who, why }, `${from}'s answer to ${this.query} for ${who} refused: ${why}`);
    throw new CohortError('bad_frame', `${from} answered ${this.query} with something else than { home: true|false }`);
  }

  /** She lives on `home` now (her old home said she moved there): asked of no one, it is a library node of her domain. */
  remember(domain: string, user: string, home: string): void {
    if (!this.table.nodes.some((n) => n.id === home && n.role === 'library' && n.domain === domain)) return;
    this.memory.set(`${domain}/${user}`, home);
    this.put_.run(domain, user, home, Date.now());
  }

  forget(domain: string, user: string): void {
    this.memory.delete(`${domain}/${user}`);
    this.del_.run(domain, user);
  }
}
