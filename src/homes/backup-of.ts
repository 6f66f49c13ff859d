import { recordsInPostgres } from '../config/schema.ts';
import type { HostTable } from '../config/host-table.ts';
import { rendezvousTop } from '../rendezvous.ts';

/**
 * A home library node's backup (issue 27): another library node of its domain, picked by
 * rendezvous hashing of the home's id over them, so every node of the cluster names the same
 * one and adding a library node moves only the homes it wins. Undefined when the domain has no
 * other library node (the home then has no backup, and the operator is told so), and for a home
 * whose records are in PostgreSQL.
 */
export function backupOf(table: HostTable, home: string): string | undefined {
  const self = table.nodes.find((n) => n.id === home);
  // A home whose records are in PostgreSQL has PostgreSQL's standby instead.
  if (!self || self.role !== 'library' || recordsInPostgres(self)) return undefined;
  // A node joining (issue 28) backs up no home yet: adding it moves no running home's backup.
  const others = table.nodes.filter((n) => n.role === 'library' && n.domain === self.domain && n.id !== home && !n.joining);
  return rendezvousTop(`home-backup\0${home}`, others)?.id;
}

/** The homes whose backup is `node`. */
export function homesBackedUpBy(table: HostTable, node: string): string[] {
  return table.nodes.filter((n) => n.role === 'library' && n.id !== node && backupOf(table, n.id) === node).map((n) => n.id);
}
