import type { Logger } from 'pino';
import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import { LOCAL } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import { DomainPolicy } from '../records/domain-policy.ts';
import { HANDOVER_TOKEN_PATTERN, Handovers, newHandoverNonce, tokenNode } from './handovers.ts';
import { readLoadPercent } from './load.ts';
import { placeLogin } from './login-placement.ts';

const userRef = { domain: z.string().min(1).max(64), user: z.string().min(1).max(64) };
const token = z.string().regex(new RegExp(`^${HANDOVER_TOKEN_PATTERN}$`), 'a hand-over token is <node>.<43 characters>');
/** What the node taking a login keeps of the browser's nonce: its SHA-256, hex. */
const nonceDigest = z.string().regex(/^[0-9a-f]{64}$/, 'a nonce digest is 64 hex digits');
const data = z.record(z.string().max(256), z.unknown()).refine((d) => JSON.stringify(d).length <= 16_384, 'at most 16 KiB of session data');

export interface LoginDeps {
  self: string;
  table: HostTable;
  call: (to: string, cmd: string, args: unknown) => Promise<unknown>;
  log: Logger;
}

/** Load-aware login: `login.place` checks the password and says where the session goes; the other node takes it up once. */
export function registerLoginCommands(registry: CommandRegistry, deps: LoginDeps): void {
  const handovers = new Handovers(deps.table.handoverTtlMs);
  // Seed 000's domains: a node may take (or offer) a login of a user of its own domain, or of a domain that trusts its own.
  const policy = new DomainPolicy(deps.table, deps.self, deps.log);
  const loads = async (nodes: string[]) => {
    const out = new Map<string, number>();
    await Promise.all(nodes.map(async (n) => {
      try {
        out.set(n, await readLoadPercent(deps.call, n));
      } catch {
        // unreachable: not a place for a login
      }
    }));
    return out;
  };

  registry.register({
    name: 'login.place',
    summary: "check a user's password, then say where her session goes: here, or (this node over 100%) a spare, with a hand-over token and the nonce her browser keeps",
    args: z.strictObject({ ...userRef, password: z.string().max(1024), data: data.default({}) }),
    scope: 'local',
    run: async (a) => {
      const checked = (await deps.call(deps.self, 'auth.login', { domain: a.domain, user: a.user, password: a.password })) as { home: string };
      const place = await placeLogin(deps.table, deps.self, loads, (node) => policy.allows(node, a.domain));
      if (place.node === deps.self) return { node: deps.self, home: checked.home, token: null, nonce: null, url: null, why: place.why };
      const t = Handovers.newToken(place.node);
      // The token goes in a link; the nonce stays in the browser that logged in (a cookie), and the other node keeps its digest.
      const { nonce, digest } = newHandoverNonce();
      try {
        await deps.call(place.node, 'login.handover.offer', { token: t, nonceDigest: digest, domain: a.domain, user: a.user, data: a.data });
      } catch (err) {
        // The password was right: the login stays here rather than fail.
        deps.log.warn({ event: 'login_handover_failed', to: place.node, err: (err as Error).message }, `could not hand the login over to ${place.node}; it stays here`);
        return { node: deps.self, home: checked.home, token: null, nonce: null, url: null, why: `${place.why}; the hand-over to ${place.node} failed (${(err as Error).message})` };
      }
      deps.log.info({ event: 'login_handed_over', user: `${a.domain}/${a.user}`, to: place.node, why: place.why }, `login of ${a.domain}/${a.user} handed over to ${place.node}`);
      const publicUrl = deps.table.nodes.find((n) => n.id === place.node)?.publicUrl;
      return { node: place.node, home: checked.home, token: t, nonce, url: publicUrl ?? null, why: place.why };
    },
  });
  registry.register({
    name: 'login.handover.offer',
    summary: 'a peer that checked a password hands the login over to this node (peers only)',
    args: z.strictObject({ token, nonceDigest, ...userRef, data }),
    // Only a node that checked the password may offer a login: never an app (here or through its node).
    scope: 'peers',
    run: (a, ctx) => {
      if (tokenNode(a.token) !== deps.self) throw new CohortError('refused', `this token is for node ${tokenNode(a.token)}, not ${deps.self}`);
      // The node that checked the password, and this one, must both be allowed her domain.
      policy.check(ctx.from, a.domain, 'login hand-over');
      policy.check(LOCAL, a.domain, 'login hand-over');
      handovers.offer(a.token, { domain: a.domain, user: a.user, data: a.data }, a.nonceDigest);
      return { ok: true };
    },
  });
  registry.register({
    name: 'login.handover.take',
    summary: "take up a login handed over to this node, with the nonce from the browser's cookie: who she is and her session data; good once",
    // The nonce as the browser sent it ('' without the cookie): a mismatch is refused and leaves the token for its own browser.
    args: z.strictObject({ token, nonce: z.string().max(64) }),
    scope: 'local',
    run: (a) => handovers.take(a.token, a.nonce),
  });
}
