import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

// The demo's host table: the cluster of seed 000's figure on 127.0.0.1, its ports from one base.

// Library nodes A and E, access nodes C, D, I and J (seed 000's figure); library nodes B and K
// are the backups of A and E (issue 27: each home's writes are on two machines, and its users
// log in and read their records at its backup while it is down). Appended, so the others keep their ports.
// Access nodes C and I vote on their domain's homes' terms with its two library nodes (three voters each).
export const DEMO_NODES = [
  { id: 'A', domain: 'msu', role: 'library' },
  { id: 'C', domain: 'msu', role: 'access', voter: true },
  { id: 'D', domain: 'msu', role: 'access' },
  { id: 'E', domain: 'rice', role: 'library' },
  { id: 'I', domain: 'rice', role: 'access', voter: true },
  { id: 'J', domain: 'rice', role: 'access' },
  { id: 'B', domain: 'msu', role: 'library' },
  { id: 'K', domain: 'rice', role: 'library' },
];

const DEMO_APP = fileURLToPath(new URL('../../examples/demo-app.ts', import.meta.url));

/** The front's certificate (relative to the host table), signed by the cluster CA for 127.0.0.1 and localhost (web-certs.ts). */
export const DEMO_FRONT_CERT = { name: 'front', hosts: ['127.0.0.1', 'localhost'], cert: './tls/web/front.crt', key: './tls/web/front.key' };

/** App instances per access node in the demo. */
export const DEMO_INSTANCES = 2;

/** Where an access node sends logins when it is over 100% (load-aware login): the other access node of its domain. */
const DEMO_SPARES: Record<string, string> = { C: 'D', D: 'C', I: 'J', J: 'I' };

/**
 * The demo's ports from its base: links at base.., each node's own HTTP port at base+1000..,
 * the app instances of node i at base+1100+10i.., the front at base+2000 (HTTPS; admin +1, plain
 * HTTP redirecting to HTTPS +2).
 */
export function demoPorts(basePort: number): { links: number[]; http: number[]; apps: number[]; front: number; admin: number; redirect: number } {
  return {
    links: DEMO_NODES.map((_n, i) => basePort + i),
    http: DEMO_NODES.map((_n, i) => basePort + 1000 + i),
    apps: DEMO_NODES.map((_n, i) => basePort + 1100 + 10 * i),
    front: basePort + 2000,
    admin: basePort + 2001,
    redirect: basePort + 2002,
  };
}

/** `version`: the table's version (signed by the demo's operator key; issue 28): past any a node of an earlier run accepted. */
export function demoHostTable(basePort: number, version = 1, secrets = { adminToken: randomBytes(16).toString('hex'), stickyKey: randomBytes(24).toString('hex') }): string {
  const ports = demoPorts(basePort);
  const lines = DEMO_NODES.map(
    (n, i) =>
      `  - { id: ${n.id}, domain: ${n.domain}, role: ${n.role.padEnd(7)}, host: 127.0.0.1, linkPort: ${ports.links[i]}, httpPort: ${ports.http[i]}${'voter' in n ? ', voter: true' : ''}${n.role === 'access' ? `, spares: [${DEMO_SPARES[n.id]}], app: { basePort: ${ports.apps[i]} }` : ''} }`,
  );
  return [
    '# Cohort demo cluster, written by `cohort demo`. Every node runs on this machine.',
    `version: ${version}                 # a newer version, signed (cohort hosts sign --bump, or hosts add/leave/remove), reaches running nodes`,
    'cluster: demo',
    'dataDir: ./data            # node X keeps its files under dataDir/X',
    'tls: { dir: ./tls }        # cluster CA and node certificates',
    'domains: [msu, rice]',
    'trust: { msu: [rice], rice: [msu] }  # each domain\'s nodes may use the other\'s users\' records: a learner logs in on any app',
    'nodes:',
    ...lines,
    'app:                       # the example app: each access node supervises its instances (docs/supervisor.md)',
    `  command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(DEMO_APP)}]`,
    `  instances: ${DEMO_INSTANCES}`,
    '  portSpan: 10',
    '  health: { path: /healthz, intervalMs: 1000 }',
    '  killTimeoutMs: 5000',
    'front:                     # `cohort front`: the HTTP front before the app instances',
    `  listen: { port: ${ports.front}, tls: { certificates: [{ cert: ${DEMO_FRONT_CERT.cert}, key: ${DEMO_FRONT_CERT.key} }] } }  # HTTPS; the cluster CA (tls/ca.crt) signs its certificate`,
    `  redirect: { port: ${ports.redirect} }     # plain HTTP: a 308 to the same path on HTTPS`,
    `  admin: { port: ${ports.admin}, token: ${secrets.adminToken} }`,
    '  backends: apps           # every instance in the access nodes\' registries, followed live',
    '  node: C                  # the node whose local socket the front talks through',
    '  policy: least_conn',
    `  sticky: { mode: cookie, keys: [${secrets.stickyKey}] }`,
    '  health: { path: /healthz, intervalMs: 1000 }',
    '  routes:                 # resources to the access nodes\' own HTTP ports by LARD/R; the rest to the app',
    '    - { name: resources, match: { prefix: /res/ }, backends: access, policy: lard_r, sticky: { mode: none } }',
    '    - { name: app, match: { prefix: / } }',
    '',
  ].join('\n');
}
