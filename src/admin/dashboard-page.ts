/**
 * The dashboard: one self-contained page (inline CSS and script, no external asset, no
 * framework) that opens an EventSource on ./dashboard/events and redraws on each `status`
 * event. Every value from the cluster (node ids, URLs, errors) goes in with textContent or
 * an attribute set by the DOM API, never as HTML. A token in the page's own query string
 * (?token=..., the front's admin token) is passed on to the event stream.
 * Cards: green (the node answered and all its links are up), amber (it answered, some link is
 * down), red (it did not answer). Each card carries data-node and data-state for tests.
 */
export function dashboardPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
:root { --green: #1a7f37; --amber: #b7791f; --red: #c62828; --bg: #f6f7f9; --fg: #1d2330; --muted: #667085; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { padding: 12px 16px; background: #fff; border-bottom: 1px solid #e3e6eb; display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
#conn { color: var(--muted); }
#conn.bad { color: var(--red); font-weight: 600; }
main { padding: 12px; }
h2 { font-size: 15px; margin: 16px 4px 8px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.card { background: #fff; border-radius: 8px; border: 1px solid #e3e6eb; border-left: 8px solid var(--muted); padding: 10px 12px; overflow-wrap: anywhere; }
.card[data-state="green"] { border-left-color: var(--green); }
.card[data-state="amber"] { border-left-color: var(--amber); }
.card[data-state="red"] { border-left-color: var(--red); background: #fff5f5; }
.card h3 { margin: 0 0 4px; font-size: 16px; display: flex; justify-content: space-between; gap: 8px; }
.badge { font-size: 12px; font-weight: 600; padding: 1px 8px; border-radius: 10px; color: #fff; background: var(--muted); }
.badge.green { background: var(--green); } .badge.amber { background: var(--amber); } .badge.red { background: var(--red); }
.meta { color: var(--muted); font-size: 12px; margin-bottom: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 2px 6px 2px 0; border-bottom: 1px solid #f0f1f4; vertical-align: top; }
th { color: var(--muted); font-weight: 500; }
td.up { color: var(--green); } td.down, td.connecting, .home-backup.down, .home-lease.down, .host-table.down { color: var(--red); }
.section { margin-top: 6px; font-weight: 600; font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.scroll { overflow-x: auto; }
#matrix td, #matrix th { text-align: center; white-space: nowrap; }
#matrix td.self { color: var(--muted); }
</style>
</head>
<body>
<header><h1 id="title"></h1><span id="conn">connecting…</span><span id="at" class="meta"></span></header>
<main>
<section id="front-section" hidden><h2>Front: back-ends</h2><div class="card scroll" id="front"></div></section>
<h2>Nodes</h2>
<div class="grid" id="nodes"></div>
<h2>Links (round trip, ms)</h2>
<div class="card scroll"><table id="matrix"></table></div>
</main>
<script>
"use strict";
(function () {
  var titleText = ${JSON.stringify(title).replace(/</g, '\\u003c')};
  document.getElementById('title').textContent = titleText;
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) { if (k === 'text') e.textContent = String(attrs[k]); else e.setAttribute(k, String(attrs[k])); }
    if (children) children.forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function table(head, rows) {
    var t = el('table', null, [el('tr', null, head.map(function (h) { return el('th', { text: h }); }))]);
    rows.forEach(function (r) { t.appendChild(el('tr', null, r.map(function (c) { return c instanceof Node ? c : el('td', { text: c === null || c === undefined ? '–' : c }); }))); });
    return t;
  }
  function stateOf(n) {
    if (!n.answered || !n.snapshot) return 'red';
    return n.snapshot.links.every(function (l) { return l.state === 'up'; }) ? 'green' : 'amber';
  }
  var LABEL = { green: 'up', amber: 'links down', red: 'unreachable' };
  function nodeCard(n) {
    var state = stateOf(n);
    var card = el('div', { 'class': 'card', 'data-node': n.id, 'data-state': state }, [
      el('h3', null, [el('span', { text: n.id }), el('span', { 'class': 'badge ' + state, text: LABEL[state] })]),
      el('div', { 'class': 'meta', text: n.role + ' · ' + n.domain + ' · ' + n.host + ':' + n.httpPort }),
    ]);
    if (!n.snapshot) { card.appendChild(el('div', { text: 'no answer: ' + (n.error || 'unknown') })); return card; }
    var s = n.snapshot;
    var load = s.load || {};
    card.appendChild(el('div', { text: 'load ' + (load.percent !== undefined ? load.percent + '%' : '–') + (load.loadavg !== undefined ? ' (loadavg ' + load.loadavg + ', sessions ' + load.sessions + ')' : '') }));
    // Up for how long: a node that restarted shows it here.
    if (typeof s.pid === 'number' && typeof s.startedAt === 'number') {
      var up = Math.max(0, Math.floor((s.at - s.startedAt) / 1000));
      card.appendChild(el('div', { 'class': 'meta', text: 'pid ' + s.pid + ', up ' + (up < 120 ? up + ' s' : up < 7200 ? Math.floor(up / 60) + ' min' : Math.floor(up / 3600) + ' h') }));
    }
    // Its host table version (issue 28): red while a newer one waits for its restart.
    if (s.hostTable && s.hostTable.version > 0) card.appendChild(s.hostTable.running < s.hostTable.version
      ? el('div', { 'class': 'host-table down', text: 'host table v' + s.hostTable.version + ', runs on v' + s.hostTable.running + ': restart for ' + s.hostTable.pendingRestart.join('; ') })
      : el('div', { 'class': 'host-table meta', text: 'host table v' + s.hostTable.version }));
    var depth = {};
    s.outbox.peers.forEach(function (p) { depth[p.peer] = p; });
    card.appendChild(el('div', { 'class': 'section', text: 'links and outbox' }));
    card.appendChild(table(['peer', 'link', 'rtt ms', 'outbox', 'delivered'], s.links.map(function (l) {
      var o = depth[l.peer];
      return [l.peer, el('td', { 'class': l.state, text: l.state }), l.rttMs, o ? o.depth : 0, o ? o.delivered : 0];
    })));
    card.appendChild(el('div', { text: 'dead letters: ' + s.outbox.dead }));
    var r = s.resources;
    card.appendChild(el('div', { 'class': 'section', text: 'resources' }));
    card.appendChild(el('div', { text: r.published + ' published here (' + r.subscribers + ' subscribers), ' + r.copies + ' copies' }));
    if (r.problem) card.appendChild(el('div', { 'class': 'down', text: r.problem }));
    if (r.publishedList.length) card.appendChild(table(['published', 'v', 'subscribers'], r.publishedList.map(function (p) { return [p.url, p.version, p.subscribers.join(', ') || '–']; })));
    if (r.copiesList.length) card.appendChild(table(['copy', 'v'], r.copiesList.map(function (c) { return [c.url, c.version]; })));
    if (s.home || n.role === 'library') {
      // A home whose backup is out of step answers writes alone: red, as the operator must know. None at all is the table's choice: said plainly.
      card.appendChild(el('div', { 'class': 'section', text: 'home backup' }));
      card.appendChild(!s.home
        ? el('div', { 'class': 'home-backup', text: 'none: no other library node in ' + n.domain })
        : s.home.inSync
          ? el('div', { 'class': 'home-backup', text: s.home.backup + ' in step' })
          : el('div', { 'class': 'home-backup down', text: s.home.backup + ' out of step (' + s.home.lag + ' behind): ' + (s.home.why || '') }));
      // Its lease with the domain's voters: not held means it takes none of its users' reads or writes (red).
      if (s.home && s.home.lease) card.appendChild(s.home.lease.held
        ? el('div', { 'class': 'home-lease', text: 'lease held at epoch ' + s.home.lease.epoch + ' (' + s.home.lease.answered + ' of ' + s.home.lease.voters + ' voters)' })
        : el('div', { 'class': 'home-lease down', text: 'lease NOT held (' + s.home.lease.answered + ' of ' + s.home.lease.voters + ' voters answered): takes no reads or writes' }));
      // The time in degraded mode (cohort_home_backup_alone_seconds_total), once there was some.
      if (s.home && typeof s.home.aloneSeconds === 'number' && s.home.aloneSeconds >= 1) card.appendChild(el('div', { 'class': 'home-alone', text: 'answered writes alone ' + Math.round(s.home.aloneSeconds) + ' s since it started' }));
    }
    if (s.apps) {
      card.appendChild(el('div', { 'class': 'section', text: 'app instances' + (s.apps.reload !== 'idle' ? ' (reload ' + s.apps.reload + ')' : '') }));
      if (s.apps.problem) card.appendChild(el('div', { 'class': 'down', text: s.apps.problem }));
      card.appendChild(table(['instance', 'state', 'port', 'requests', 'restarts'], s.apps.instances.map(function (i) { return [i.id, i.state, i.port, i.requests, i.restarts]; })));
    }
    return card;
  }
  function matrix(nodes) {
    var t = document.getElementById('matrix');
    t.replaceChildren();
    var ids = nodes.map(function (n) { return n.id; });
    t.appendChild(el('tr', null, [el('th', { text: 'from \\\\ to' })].concat(ids.map(function (id) { return el('th', { text: id }); }))));
    nodes.forEach(function (n) {
      var links = {};
      if (n.snapshot) n.snapshot.links.forEach(function (l) { links[l.peer] = l; });
      t.appendChild(el('tr', null, [el('th', { text: n.id })].concat(ids.map(function (id) {
        if (id === n.id) return el('td', { 'class': 'self', text: '·' });
        var l = links[id];
        if (!n.snapshot) return el('td', { 'class': 'down', text: '?' });
        if (!l) return el('td', { text: '–' });
        return el('td', { 'class': l.state, text: l.state === 'up' ? (l.rttMs === null ? 'up' : l.rttMs.toFixed(2)) : l.state });
      }))));
    });
  }
  function front(f) {
    var box = document.getElementById('front');
    document.getElementById('front-section').hidden = !f;
    if (!f) return;
    box.replaceChildren(
      el('div', { 'class': 'meta', text: 'listen ' + f.listen + ' · policy ' + f.policy + ' · connections ' + f.connections + ' · up ' + f.uptimeS + ' s' + (f.maintenance && f.maintenance.on ? ' · MAINTENANCE' : '') }),
      table(['back-end', 'address', 'node', 'state', 'healthy', 'active', 'requests', 'errors', 'sessions left'], f.backends.map(function (b) {
        return [b.id, b.address, b.node, el('td', { 'class': b.state === 'ready' ? 'up' : b.state === 'draining' ? '' : 'down', text: b.state }), b.healthy ? 'yes' : 'no', b.active, b.requests, b.errors, b.admin === 'draining' ? b.liveSessions : null];
      })));
  }
  function render(data) {
    var nodes = data.cluster ? data.cluster.nodes : [];
    var box = document.getElementById('nodes');
    box.replaceChildren.apply(box, nodes.map(nodeCard));
    matrix(nodes);
    front(data.front);
    document.getElementById('at').textContent = 'as seen from ' + (data.cluster ? data.cluster.from : '?') + ' at ' + new Date(data.cluster ? data.cluster.at : Date.now()).toLocaleTimeString();
  }
  var token = new URLSearchParams(location.search).get('token');
  var url = 'dashboard/events' + (token ? '?token=' + encodeURIComponent(token) : '');
  var conn = document.getElementById('conn');
  var source = new EventSource(url);
  source.addEventListener('status', function (e) {
    conn.textContent = 'live'; conn.className = '';
    try { render(JSON.parse(e.data)); } catch (err) { conn.textContent = 'bad data: ' + err; conn.className = 'bad'; }
  });
  source.addEventListener('failure', function (e) { conn.textContent = 'status failed: ' + e.data; conn.className = 'bad'; });
  source.onerror = function () { conn.textContent = 'disconnected, retrying…'; conn.className = 'bad'; };
})();
</script>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
