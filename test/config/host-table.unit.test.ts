import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseHostTable } from '../../src/config/host-table.ts';
import { routeConfigs } from '../../src/front/config.ts';

const good = `
cluster: demo
dataDir: ./data
tls: { dir: ./tls }
domains: [msu, rice]
nodes:
  - { id: A, domain: msu, role: library, host: 127.0.0.1, linkPort: 7101, httpPort: 8101 }
  - { id: C, domain: rice, role: access, host: 127.0.0.1, linkPort: 7103, httpPort: 8103 }
`;

function problems(text: string): string[] {
  try {
    parseHostTable('/etc/cohort/hosts.yaml', text);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^\/etc\/cohort\/hosts\.yaml: invalid configuration/);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('host table', () => {
  it('loads a valid table, resolving folders against the file and filling link defaults', () => {
    const t = parseHostTable('/etc/cohort/hosts.yaml', good);
    assert.equal(t.dataDir, '/etc/cohort/data');
    assert.equal(t.tlsDir, '/etc/cohort/tls');
    assert.deepEqual(t.nodes.map((n) => n.id), ['A', 'C']);
    assert.equal(t.link.heartbeatMs, 1000);
    assert.ok(t.loadFullAt > 0);
  });

  const cases: [string, string, RegExp][] = [
    ['an unknown top-level field', good + 'colour: blue\n', /\(top level\): Unrecognized key: "colour"/],
    ['an unknown node field', good.replace('httpPort: 8101 }', 'httpPort: 8101, weight: 3 }'), /nodes\[0\]: Unrecognized key: "weight"/],
    ['a duplicate node id', good.replace('id: C', 'id: A'), /nodes\[1\]\.id: duplicate node id 'A' \(also nodes\[0\]\)/],
    ['a duplicate port', good.replace('linkPort: 7103', 'linkPort: 7101'), /nodes\[1\]\.linkPort: port 127\.0\.0\.1:7101 is already used by nodes\[0\]\.linkPort/],
    ['an unknown domain', good.replace('domain: rice', 'domain: mit'), /nodes\[1\]\.domain: unknown domain 'mit' \(declared: msu, rice\)/],
    ['an unknown role', good.replace('role: access', 'role: cache'), /nodes\[1\]\.role: Invalid option: expected one of "library"\|"access"/],
    ['a missing field', good.replace(', httpPort: 8103', ''), /nodes\[1\]\.httpPort: Invalid input: expected number, received undefined/],
    ['a port out of range', good.replace('7103', '70000'), /nodes\[1\]\.linkPort: Too big/],
    ['a node id with a path in it', good.replace('id: C', 'id: ../C'), /nodes\[1\]\.id: node id must be 1-32 letters/],
    ['a YAML syntax error', good + 'nodes: [\n', /YAML:/],
    ['a repeated YAML key', good + 'cluster: other\n', /YAML: Map keys must be unique/],
    ['link timings that contradict each other', good + 'link: { heartbeatMs: 5000, deadAfterMs: 1000 }\n', /link\.deadAfterMs: must be greater than heartbeatMs/],
    ['an empty file', '', /\(top level\): Invalid input: expected object/],
    ['cookie stickiness without keys', good + 'front: { listen: { port: 80 }, sticky: { mode: cookie } }\n', /front\.sticky\.keys: cookie stickiness needs at least one key/],
    ['an unknown front policy', good + 'front: { listen: { port: 80 }, policy: fastest }\n', /front\.policy: Invalid option/],
    ['a short admin token', good + 'front: { listen: { port: 80 }, admin: { port: 81, token: abc } }\n', /front\.admin\.token: admin tokens are at least 16 characters/],
    ['an admin listener beyond loopback without a token', good + 'front: { listen: { port: 80 }, admin: { host: 0.0.0.0, port: 81 } }\n', /front\.admin\.token: an admin listener on 0\.0\.0\.0 \(beyond loopback\) needs a token/],
    ['a redirect to HTTPS without TLS', good + 'front: { listen: { port: 443 }, redirect: { port: 80 } }\n', /front\.redirect: a redirect to HTTPS needs front\.listen\.tls/],
    ['a redirect on the HTTPS port', good + 'front: { listen: { port: 443, tls: { certificates: [{ cert: c.pem, key: k.pem }] } }, redirect: { port: 443 } }\n', /front\.redirect\.port: port 443 is taken/],
    ['TLS without a certificate', good + 'front: { listen: { port: 443, tls: { certificates: [] } } }\n', /front\.listen\.tls\.certificates/],
    ['ACME without front.node', good + 'front: { listen: { port: 443, tls: { acme: { directory: "https://ca.example/dir", names: [a.example] } } } }\n', /front\.node: front\.listen\.tls\.acme keeps its certificates in the node network/],
    ['ACME by HTTP-01 alone without a plain listener', good + 'front: { node: A, listen: { port: 443, tls: { acme: { directory: "https://ca.example/dir", names: [a.example], challenges: [http-01] } } } }\n', /front\.listen\.tls\.acme\.challenges: http-01 alone needs front\.redirect/],
    ['ACME over plain HTTP', good + 'front: { node: A, listen: { port: 443, tls: { acme: { directory: "http://ca.example/dir", names: [a.example] } } } }\n', /front\.listen\.tls\.acme\.directory/],
    ['ACME for a wildcard name', good + 'front: { node: A, listen: { port: 443, tls: { acme: { directory: "https://ca.example/dir", names: ["*.a.example"] } } } }\n', /front\.listen\.tls\.acme\.names\[0\]: a DNS name/],
    ['ACME with no names and no on-demand list', good + 'front: { node: A, listen: { port: 443, tls: { acme: { directory: "https://ca.example/dir" } } } }\n', /front\.listen\.tls\.acme\.names: acme needs names, or onDemand/],
    ["a node's HTTPS without certificates or acme", good.replace('httpPort: 8103', 'httpPort: 8103, tls: {}'), /nodes\[1\]\.tls\.certificates: a node's HTTPS needs certificates, or acme/],
    ["a node's ACME certificates kept on a node not in the table", good.replace('httpPort: 8103', 'httpPort: 8103, tls: { acme: { directory: "https://ca.example/dir", names: [a.example], home: Z } }'), /nodes\[1\]\.tls\.acme\.home: no node 'Z'/],
    ['ticket keys in the node network that outlive its store', good + 'front: { node: A, listen: { port: 443, tls: { certificates: [{ cert: c.pem, key: k.pem }], tickets: { rotateS: 172800, lifetimeS: 345600 } } } }\n', /front\.listen\.tls\.tickets\.lifetimeS: keys kept in the node network \(no secret\) need 2 × rotateS \+ lifetimeS of 7 days/],
    ['ACME kept on a node not in the table', good + 'front: { node: A, listen: { port: 443, tls: { acme: { directory: "https://ca.example/dir", names: [a.example], home: Z } } } }\n', /front\.listen\.tls\.acme\.home: no node 'Z'/],
    ['HSTS preload without includeSubDomains', good + 'front: { listen: { port: 443, tls: { certificates: [{ cert: c.pem, key: k.pem }], hsts: { preload: true } } } }\n', /front\.listen\.tls\.hsts\.preload: preload needs includeSubDomains/],
    ['an unknown TLS profile', good + 'front: { listen: { port: 443, tls: { certificates: [{ cert: c.pem, key: k.pem }], profile: old } } }\n', /front\.listen\.tls\.profile/],
    ['an upgrade protocol with a version', good + 'front: { listen: { port: 80 }, upgrades: [websocket/13] }\n', /front\.upgrades\[0\]: upgrade protocols are lower-case tokens/],
    ['duplicate back-end ids', good + 'front: { listen: { port: 80 }, backends: [{ id: w, host: h, port: 1 }, { id: w, host: h, port: 2 }] }\n', /front\.backends\[1\]\.id: duplicate back-end id 'w'/],
    ['two routes of one name', good + 'front: { listen: { port: 80 }, backends: [{ id: w, host: h, port: 1 }], routes: [{ name: r, match: { prefix: /a/ } }, { name: r, match: { prefix: / } }] }\n', /front\.routes\.1\.name: duplicate route name 'r'|front\.routes\[1\]\.name: duplicate route name 'r'/],
    ['a route prefix that is not a path', good + 'front: { listen: { port: 80 }, routes: [{ match: { prefix: res } }] }\n', /front\.routes\[0\]\.match\.prefix/],
    ['one id for two addresses in two routes', good + 'front: { listen: { port: 80 }, routes: [{ match: { prefix: /a/ }, backends: [{ id: w, host: h, port: 1 }] }, { match: { prefix: / }, backends: [{ id: w, host: h, port: 2 }] }] }\n', /back-end id 'w' names h:1 in another route/],
    ['two routes with one sticky cookie', good + 'front: { listen: { port: 80 }, backends: [{ id: w, host: h, port: 1 }], routes: [{ match: { prefix: /a/ }, sticky: { mode: cookie, keys: [0123456789abcdef] } }, { match: { prefix: / }, sticky: { mode: cookie, keys: [0123456789abcdef] } }] }\n', /two routes use the sticky cookie 'cohort_srv'/],
    ['a shared dispatcher for a policy that is not LARD', good + 'front: { listen: { port: 80 }, node: A, backends: [{ id: w, host: h, port: 1 }], routes: [{ match: { prefix: / }, policy: round_robin, dispatcher: { node: A } }] }\n', /a shared dispatcher decides LARD picks/],
    ['a shared dispatcher on no node', good + 'front: { listen: { port: 80 }, node: A, backends: [{ id: w, host: h, port: 1 }], routes: [{ match: { prefix: / }, policy: lard, dispatcher: { node: Q } }] }\n', /dispatcher\.node: no node 'Q' in the host table/],
    ['LARD with source_ip stickiness', good + 'front: { listen: { port: 80 }, policy: lard, sticky: { mode: source_ip } }\n', /sticky source_ip picks by the client address, not by LARD/],
    ['LARD thresholds upside down', good + 'front: { listen: { port: 80 }, policy: lard, lard: { tLow: 70, tHigh: 65 } }\n', /lard\.tLow must be below lard\.tHigh/],
    ['an unknown trusted domain', good + 'trust: { msu: [mit] }\n', /trust\.msu\[0\]: unknown domain 'mit'/],
    ['records kept by an access node', good.replace('httpPort: 8103 }', 'httpPort: 8103, records: { postgres: { url: "postgresql://db/c" } } }'), /nodes\[1\]\.records: only a library node keeps users and records/],
    ['a PostgreSQL URL that is not one', good.replace('httpPort: 8101 }', 'httpPort: 8101, records: { postgres: { url: "mysql://db/c" } } }'), /nodes\[0\]\.records\.postgres\.url: a postgres:\/\/ or postgresql:\/\/ URL/],
    ['a password in the PostgreSQL URL', good.replace('httpPort: 8101 }', 'httpPort: 8101, records: { postgres: { url: "postgresql://cohort:secret@db/c" } } }'), /records\.postgres\.url: no password in the URL: give it in PGPASSWORD/],
    ['a password as a PostgreSQL URL parameter', good.replace('httpPort: 8101 }', 'httpPort: 8101, records: { postgres: { url: "postgresql://db/c?sslmode=require&password=secret" } } }'), /no password in the URL/],
    ["a schema named like PostgreSQL's own", good.replace('httpPort: 8101 }', 'httpPort: 8101, records: { postgres: { url: "postgresql://db/c", schema: pg_cohort } } }'), /records\.postgres\.schema: schema names starting with 'pg_' are PostgreSQL's own/],
    ['two homes in one schema (their default names meet: A and a)', good.replace('  - { id: C', '  - { id: a, domain: msu, role: library, host: 127.0.0.1, linkPort: 7105, httpPort: 8105, records: { postgres: { url: "postgresql://other@db:5432/cohort" } } }\n  - { id: C').replace('httpPort: 8101 }', 'httpPort: 8101, records: { postgres: { url: "postgresql://cohort@db/cohort" } } }'), /nodes\[1\]\.records\.postgres\.schema: the same database and schema \(cohort_a\) as node A/],
  ];
  it('a route inherits each field it leaves out from the front (sticky, health, lard, policy, back-ends)', () => {
    const t = parseHostTable('/etc/cohort/hosts.yaml', good + 'front: { listen: { port: 80 }, backends: [{ id: w, host: h, port: 1 }], policy: lard, lard: { tLow: 5, tHigh: 9 }, sticky: { mode: cookie, keys: [0123456789abcdef] }, health: { path: /up }, routes: [{ name: own, match: { prefix: /res/ }, policy: lard_r, sticky: { mode: none }, lard: { tLow: 2, tHigh: 3 } }, { name: rest, match: { prefix: / } }] }\n');
    const [own, rest] = routeConfigs(t.front!);
    assert.deepEqual([own.policy, own.sticky.mode, own.lard.tLow, own.health.path], ['lard_r', 'none', 2, '/up']);
    assert.deepEqual([rest.policy, rest.sticky.mode, rest.sticky.keys, rest.lard.tHigh, rest.health.path, rest.backends], ['lard', 'cookie', ['0123456789abcdef'], 9, '/up', [{ id: 'w', host: 'h', port: 1, weight: 1 }]]);
  });

  it('accepts an admin listener without a token on loopback only', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1']) {
      assert.ok(parseHostTable('/etc/cohort/hosts.yaml', good + `front: { listen: { port: 80 }, admin: { host: "${host}", port: 81 } }\n`).front?.admin);
    }
  });

  for (const [what, text, message] of cases) {
    it(`rejects ${what} with the field and the fault`, () => {
      const found = problems(text);
      assert.ok(found.some((p) => message.test(p)), `expected ${message} in:\n${found.join('\n')}`);
    });
  }
});
