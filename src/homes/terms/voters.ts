import type { HostTable } from '../../config/host-table.ts';
import { backupOf } from '../backup-of.ts';

/** Fewer voters than this, and a domain's homes keep no terms: no majority survives a node's loss. */
export const MIN_VOTERS = 3;

/**
 * The nodes that vote on which library node takes a home's writes (issue 27): the domain's
 * library nodes and its access nodes marked `voter`, in id order (every node lists the same).
 */
export function votersOf(table: HostTable, domain: string): string[] {
  return table.nodes
    // A library node joining (issue 28) does not vote yet: adding it changes no home's voters.
    .filter((n) => n.domain === domain && ((n.role === 'library' && !n.joining) || n.voter === true))
    .map((n) => n.id)
    .sort();
}

/** How many voters make a majority: any two majorities share a voter. */
export function majorityOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The two library nodes that may hold a home's writes (the home and its backup), when the home
 * keeps terms: it has a backup and its domain has at least MIN_VOTERS voters. Undefined
 * otherwise (the home answers writes alone when its backup is away, as before terms).
 */
export function termPairOf(table: HostTable, home: string): { home: string; backup: string; domain: string; voters: string[] } | undefined {
  const backup = backupOf(table, home);
  if (backup === undefined) return undefined;
  const domain = table.nodes.find((n) => n.id === home)!.domain;
  const voters = votersOf(table, domain);
  return voters.length >= MIN_VOTERS ? { home, backup, domain, voters } : undefined;
}

/** The homes whose terms `node` keeps as a voter. */
export function homesVotedOnBy(table: HostTable, node: string): string[] {
  return table.nodes.filter((n) => n.role === 'library' && termPairOf(table, n.id)?.voters.includes(node)).map((n) => n.id);
}

/** The homes whose lanes `node` takes writes of: its own, and those it may take over as their backup. */
export function lanesServedBy(table: HostTable, node: string): string[] {
  return table.nodes.filter((n) => n.role === 'library' && (n.id === node || backupOf(table, n.id) === node) && termPairOf(table, n.id)).map((n) => n.id);
}
