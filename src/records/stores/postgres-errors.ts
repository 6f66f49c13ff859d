import { CohortError } from '../../errors.ts';

/**
 * SQLSTATE classes that say the statement itself is wrong, whatever the server's state: a bug
 * (21 cardinality, 22 data, 23 integrity, 42 syntax or access, P0 raised in PL/pgSQL).
 */
const STATEMENT_FAULT = /^(21|22|23|42|P0)/;
/**
 * In class 42, what says the server is not (yet, or no longer) set up as the statement needs,
 * not that the statement is wrong: a grant revoked, a failover onto a server without them, the
 * schema dropped under a running node (its tables are then made again).
 */
const ENVIRONMENT = new Set(['42501', '42P01']);
/** What says this home's tables are gone: the store makes them again before the next statement. */
export const TABLES_GONE = new Set(['42P01', '3F000']);

/** node-postgres' own words for a connection or pool that cannot be used now. */
const DRIVER_UNAVAILABLE = /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|Cannot use a pool after calling end/i;

/**
 * A PostgreSQL failure as the network's error. Anything but a fault of the statement itself is
 * con_lost: the server down, failing over (read-only, 25006), timing out, refusing the login, an
 * unknown commit outcome; nothing is known applied, and a critical message is sent again (its id,
 * kept with its effect, settles whether it was). A statement fault is internal (a bug; the sender
 * gives up on it). An error that is not PostgreSQL's (the command's own) is left as it is.
 */
export function asCohortError(err: unknown, connectionBroken = false): Error {
  if (err instanceof CohortError) return connectionBroken && err.code !== 'con_lost' ? Object.assign(new CohortError('con_lost', err.message), { sqlstate: sqlstateOf(err) }) : err;
  const e = err as { code?: unknown; message?: string; severity?: unknown };
  const message = `PostgreSQL: ${e?.message ?? String(err)}`;
  if (connectionBroken) return new CohortError('con_lost', message);
  if (typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string') {
    const fault = STATEMENT_FAULT.test(e.code) && !ENVIRONMENT.has(e.code);
    return Object.assign(new CohortError(fault ? 'internal' : 'con_lost', message), { sqlstate: e.code });
  }
  if (typeof e?.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return new CohortError('con_lost', message); // a socket's errno (ECONNRESET, EAI_AGAIN)
  if (DRIVER_UNAVAILABLE.test(e?.message ?? '')) return new CohortError('con_lost', message);
  return err instanceof Error ? err : new Error(String(err));
}

/** The SQLSTATE a mapped error came from, if PostgreSQL gave one. */
export function sqlstateOf(err: unknown): string | undefined {
  const code = (err as { sqlstate?: unknown } | undefined)?.sqlstate;
  return typeof code === 'string' ? code : undefined;
}
