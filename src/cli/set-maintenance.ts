import type { CohortClient } from '../client/client.ts';
import type { HostTable } from '../config/host-table.ts';
import { setArgs, type MaintenanceState } from '../supervisor/maintenance.ts';
import { CliError, EXIT_USAGE } from './common.ts';

/** What one node made of a maintenance setting. */
export type MaintenanceOutcome =
  /** Applied (or, with applied false, answered with a newer setting that stays). */
  | { node: string; status: 'ok'; applied: boolean; state: MaintenanceState }
  /** Stored in the sending node's outbox: the node gets it when it is back. */
  | { node: string; status: 'delayed' }
  /** Refused for good (it sits in the sender's dead letters), or the send itself failed. */
  | { node: string; status: 'error'; error: string };

/**
 * Turns maintenance mode on or off on every node of the host table, as critical messages
 * through `client`'s node: a node that is down gets it when it comes back, and, because the
 * newest `at` wins, a late delivery never undoes a newer setting. One `at` for all nodes.
 * With `ifAt`, a node applies it only while its setting is still the one of that `at`; with
 * `force`, also over a newer setting stamped ahead of the node's clock (a wrong clock's).
 * Used by `cohort maintenance on|off` and `cohort app reload --all --maintenance`. Throws a
 * CliError (usage) before sending anything when the message is not acceptable.
 */
export async function setMaintenance(
  client: CohortClient,
  table: HostTable,
  on: boolean,
  message: string,
  progress: (line: string) => void,
  opts: { at?: number; ifAt?: number; force?: boolean } = {},
): Promise<MaintenanceOutcome[]> {
  // Checked here with the nodes' own rules: a message they would refuse is sent to none.
  const parsed = setArgs.safeParse({ on, message, at: opts.at ?? Date.now(), ...(opts.ifAt === undefined ? {} : { ifAt: opts.ifAt }), ...(opts.force ? { force: true } : {}) });
  if (!parsed.success) throw new CliError(`--message: ${parsed.error.issues.map((i) => i.message).join('; ')}`, EXIT_USAGE);
  const args = parsed.data;
  return Promise.all(
    table.nodes.map(async ({ id: node }): Promise<MaintenanceOutcome> => {
      let outcome: MaintenanceOutcome;
      try {
        const r = await client.critical(node, 'maintenance.set', args);
        if (r.status === 'delayed') outcome = { node, status: 'delayed' };
        else {
          const reply = r.reply as { applied: boolean; state: MaintenanceState };
          outcome = { node, status: 'ok', applied: reply.applied, state: reply.state };
        }
      } catch (err) {
        outcome = { node, status: 'error', error: `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}` };
      }
      progress(describe(outcome));
      return outcome;
    }),
  );
}

export function describe(o: MaintenanceOutcome): string {
  if (o.status === 'delayed') return `${o.node}: delayed (down; it gets the setting when it is back)`;
  if (o.status === 'error') return `${o.node}: failed (${o.error})`;
  if (!o.applied) return `${o.node}: ok, but a newer setting stays (${o.state.on ? 'on' : 'off'} since ${new Date(o.state.at).toISOString()}; --force replaces it if it is stamped ahead of the node's clock)`;
  return `${o.node}: ok (maintenance ${o.state.on ? 'on' : 'off'})`;
}
