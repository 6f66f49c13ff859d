import type { Logger } from 'pino';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import { LOCAL } from '../commands/registry.ts';

/**
 * Seed 000's domains: a domain's personal records go only to nodes of the same domain,
 * or of a domain the host table says it trusts. The home node enforces it.
 */
export class DomainPolicy {
  private readonly table: HostTable;
  private readonly selfDomain: string;
  private readonly log: Logger;

  constructor(table: HostTable, self: string, log: Logger) {
    this.table = table;
    this.selfDomain = table.nodes.find((n) => n.id === self)!.domain;
    this.log = log;
  }

  domainOf(from: string): string | undefined {
    return from === LOCAL ? this.selfDomain : this.table.nodes.find((n) => n.id === from)?.domain;
  }

  allows(from: string, userDomain: string): boolean {
    const domain = this.domainOf(from);
    return domain === userDomain || (domain !== undefined && (this.table.trust[userDomain] ?? []).includes(domain));
  }

  /** Throws refused unless `from` may use records of `userDomain`. */
  check(from: string, userDomain: string, what: string): void {
    if (!this.allows(from, userDomain)) {
      this.log.warn({ event: 'domain_refused', from, fromDomain: this.domainOf(from), domain: userDomain, what }, `${what} refused: ${from} is outside domain ${userDomain}`);
      throw new CohortError('refused', `${what}: domain '${userDomain}' does not share records with node ${from} of domain '${this.domainOf(from)}'`);
    }
  }
}
