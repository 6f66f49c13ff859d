import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_LEARNER, DEMO_PROBLEM, DEMO_USER } from '../cli/demo-content.ts';
import { demoPorts } from '../cli/demo-host-table.ts';
import { laneKey } from '../critical/home-lane.ts';
import type { PeerStatus } from '../net/peer.ts';
import { StepFailure, type Checker } from './checker.ts';
import { Learner, type Credentials } from './learner.ts';
import type { DemoRun } from './demo-run.ts';

// Seed 000's Example Transactions on the demo cluster (library A and E; access C, D, I, J):
// the author publishes a new version on her home A while D is offline (the notice waits on A);
// learners F and G on I see it at once; I goes offline and learner H goes to J, which copies
// the problem as he opens it; his answer on J is stored on his home E, also while E is down
// (delayed, then delivered), and G logs in while E is down (at E's backup K) and answers too;
// D comes back and its copy is brought up to date.

export interface StepContext {
  run: DemoRun;
  check: Checker;
  state: ScenarioState;
  /** `cohort scenario --break STEP`: this step leaves its action undone (see Step.breaks), so its checks must catch it. */
  broken: boolean;
}

export interface Step {
  id: string;
  title: string;
  /** For steps that can be broken on purpose: what --break leaves undone. */
  breaks?: string;
  /** Does the step and checks its outcome; returns one line on what was seen. */
  run: (ctx: StepContext) => Promise<string>;
}

export interface ScenarioState {
  /** The host table version the demo started on (issue 28). */
  tableVersion: number;
  /** The problem's version before the author's update, and after it. */
  before: number;
  after: number;
  marker: string;
  learners: Map<string, Learner>;
  answers: number;
}

export function newState(): ScenarioState {
  return { tableVersion: 0, before: 0, after: 0, marker: '', learners: new Map(), answers: 0 };
}

// Learners F and G (one of each domain) are made by the scenario; H is the demo's learner bob (home E).
const F = { user: 'fay', domain: 'msu', home: 'A', password: 'scenario-password' };
const G = { user: 'gil', domain: 'rice', home: 'E', password: 'scenario-password' };
const H = DEMO_LEARNER;

interface ResList {
  published: { url: string; version: number; subscribers: { node: string }[] }[];
  copies: { url: string; version: number }[];
}

const resources = (ctx: StepContext, node: string) => ctx.run.cliJson<ResList>(['resources', '--from', node]);
const copyVersion = async (ctx: StepContext, node: string) => (await resources(ctx, node)).copies.find((c) => c.url === DEMO_PROBLEM)?.version ?? null;
const newestAtHome = async (ctx: StepContext) => Math.max(0, ...(await resources(ctx, 'A')).published.filter((p) => p.url === DEMO_PROBLEM).map((p) => p.version));
const subscribersAtHome = async (ctx: StepContext) => [...new Set((await resources(ctx, 'A')).published.filter((p) => p.url === DEMO_PROBLEM).flatMap((p) => p.subscribers.map((s) => s.node)))].sort();
/** Messages waiting on `from` for `to`: straight to it, and in its lane (a home's writes, issue 27: `home:<id>`). */
const outboxDepth = async (ctx: StepContext, from: string, to: string) =>
  (await ctx.run.cliJson<{ peers: { peer: string; depth: number }[] }>(['outbox', '--from', from])).peers.filter((p) => p.peer === to || p.peer === laneKey(to)).reduce((n, p) => n + p.depth, 0);
const linkUp = async (ctx: StepContext, from: string, to: string) => (await ctx.run.cliJson<{ peers: PeerStatus[] }>(['peers', '--from', from])).peers.find((p) => p.id === to)?.state === 'up';

/** GET on a node's own HTTP port: status, X-Cohort-Source and the body. */
async function nodeGet(ctx: StepContext, node: string, path: string): Promise<{ status: number; source: string | null; text: string }> {
  const res = await fetch(`${ctx.run.nodeUrl(node)}${path}`, { signal: AbortSignal.timeout(15_000) });
  return { status: res.status, source: res.headers.get('x-cohort-source'), text: await res.text() };
}

/** A learner logged in at the first ready app instance of `node`. */
async function logIn(ctx: StepContext, node: string, who: Credentials): Promise<Learner> {
  const [app] = await ctx.run.appUrls(node);
  if (!app) throw new StepFailure(`node ${node} has no ready app instance`);
  const learner = new Learner(who, app);
  await learner.logIn(ctx.check);
  ctx.state.learners.set(who.user, learner);
  return learner;
}

const learnerNamed = (ctx: StepContext, user: string) => ctx.state.learners.get(user)!;

export const STEPS: Step[] = [
  {
    id: 'setup',
    title: "learners F and G log in on I and open the problem; D reads it too: A's subscribers are D and I, not C or J",
    async run(ctx) {
      for (const u of [F, G]) {
        const r = await ctx.run.cli(['user', 'add', u.user, '--domain', u.domain, '--home', u.home], `${u.password}\n`);
        ctx.check.equal(`cohort user add ${u.user} (${r.stderr.trim()})`, r.code, 0);
      }
      ctx.state.before = await newestAtHome(ctx);
      ctx.state.tableVersion = (await ctx.run.cliJson<{ version: number }>(['hosts', 'show', '--json', '-f', 'A'])).version;
      const seen = [];
      for (const u of [F, G]) seen.push(await (await logIn(ctx, 'I', u)).readProblem());
      ctx.check.equal('F and G: node, version and source of the problem page', seen.map((s) => [s.node, s.version, s.source]), [
        ['I', ctx.state.before, 'copied here for this request'],
        ['I', ctx.state.before, 'a copy kept on this node'],
      ]);
      const d = await nodeGet(ctx, 'D', DEMO_PROBLEM);
      ctx.check.equal(`GET ${DEMO_PROBLEM} on node D: status and X-Cohort-Source`, [d.status, d.source], [200, 'replicated']);
      ctx.check.equal("A's subscribers of the problem", await subscribersAtHome(ctx), ['D', 'I']);
      return `problem version ${ctx.state.before}; I copied it for F, G read I's copy; D copied it; A's subscribers: D, I`;
    },
  },
  {
    id: 'd-down',
    title: 'server D goes offline',
    breaks: 'D is left running',
    async run(ctx) {
      const pids = ctx.broken ? [] : await ctx.run.kill('D');
      const ms = await ctx.check.until("A's link to D is down", async () => !(await linkUp(ctx, 'A', 'D')), true);
      return `node D and its app instances killed (pids ${pids.join(', ')}); A saw its link to D down after ${ms} ms`;
    },
  },
  {
    id: 'publish',
    title: 'the author publishes a new version of the problem on her home A; the notice to D waits on A',
    async run(ctx) {
      const current = await nodeGet(ctx, 'A', DEMO_PROBLEM);
      ctx.check.equal(`GET ${DEMO_PROBLEM} on A`, current.status, 200);
      ctx.state.marker = `Revised ${new Date().toISOString()}: g is 9.8 m/s² to one decimal.`;
      const file = join(ctx.run.dir, 'problem1-revised.html');
      writeFileSync(file, current.text.replace(/<\/body>/i, `<p class="revision">${ctx.state.marker}</p></body>`));
      const out = await ctx.run.cliJson<{ version: number; notified: { node: string; status: string }[] }>(['publish', file, DEMO_PROBLEM, '--as', DEMO_USER.user, '--from', DEMO_USER.home]);
      ctx.check.equal('the new version', out.version, ctx.state.before + 1);
      ctx.state.after = out.version;
      const told = [...out.notified].sort((a, b) => a.node.localeCompare(b.node)).map((n) => `${n.node}: ${n.status}`);
      ctx.check.equal('the notices (U1, critical messages)', told, ['D: delayed', 'I: ok']);
      const waiting = await outboxDepth(ctx, 'A', 'D');
      ctx.check.equal("A's outbox for D holds the notice", waiting >= 1, true);
      return `version ${out.version} published with cohort publish; I told at once, D's notice delayed: ${waiting} message(s) wait in A's outbox for D`;
    },
  },
  {
    id: 'i-current',
    title: 'learners F and G on I see the new version at once',
    async run(ctx) {
      const ms = await ctx.check.until("I's copy of the problem", () => copyVersion(ctx, 'I'), ctx.state.after, 10_000);
      for (const u of [F, G]) {
        const page = await learnerNamed(ctx, u.user).readProblem();
        ctx.check.equal(`${u.user}: node, version and source`, [page.node, page.version, page.source], ['I', ctx.state.after, 'a copy kept on this node']);
        ctx.check.equal(`${u.user} reads the revision`, page.text.includes(ctx.state.marker), true);
      }
      return `I held version ${ctx.state.after} ${ms} ms after the publish (fetched on the notice, before anyone asked); F and G read it from I's copy, still logged in`;
    },
  },
  {
    id: 'i-down',
    title: 'server I goes offline; learner H cannot reach it',
    breaks: 'I is left running',
    async run(ctx) {
      // Where I serves now (its instances may have moved since setup), and its own port.
      const targets = [...(await ctx.run.appUrls('I')), ctx.run.nodeUrl('I')];
      ctx.check.equal('I has ready app instances before it goes', targets.length > 1, true);
      const pids = ctx.broken ? [] : await ctx.run.kill('I');
      const tries = await Promise.all(targets.map((url) => new Learner(H, url).reach()));
      ctx.check.equal("H's requests to I's app instances and its own port", tries, targets.map(() => 'refused'));
      return `node I and its app instances killed (pids ${pids.join(', ')}); ${targets.join(', ')} refuse H's connections`;
    },
  },
  {
    id: 'h-on-j',
    title: 'H logs in on J instead, which subscribes and copies the problem as he opens it',
    async run(ctx) {
      ctx.check.equal('J holds a copy before H asks', await copyVersion(ctx, 'J'), null);
      const page = await (await logIn(ctx, 'J', H)).readProblem();
      ctx.check.equal('H: node, version and source', [page.node, page.version, page.source], ['J', ctx.state.after, 'copied here for this request']);
      ctx.check.equal("A's subscribers of the problem", await subscribersAtHome(ctx), ['D', 'I', 'J']);
      return `J copied version ${page.version} from A for H's request and subscribed; A's subscribers: D, I, J`;
    },
  },
  {
    id: 'h-answers',
    title: 'H answers on J; the answer is stored on his home E',
    async run(ctx) {
      const h = learnerNamed(ctx, H.user);
      const before = await h.submissions();
      ctx.check.equal("H's submissions page", before.status, 200);
      ctx.state.answers = before.answers.length;
      ctx.check.equal("the answer's outcome", await h.answer(ctx.check, '9.81'), 'ok');
      const after = await h.submissions();
      ctx.check.equal("H's newest submission, as E keeps it", [after.status, after.answers.length, after.answers[0]], [200, ctx.state.answers + 1, { answer: '9.81', node: 'J' }]);
      return 'answered 9.81 on J: recorded on E at once; his submissions (read from E) list it';
    },
  },
  {
    id: 'e-down',
    title: "E goes offline; H's next answer is delayed on J; his submissions are read from E's backup K",
    breaks: 'E is left running',
    async run(ctx) {
      const h = learnerNamed(ctx, H.user);
      const pids = ctx.broken ? [] : await ctx.run.kill('E');
      await ctx.check.until("J's link to E is down", async () => !(await linkUp(ctx, 'J', 'E')), true);
      ctx.check.equal("the answer's outcome", await h.answer(ctx.check, '9.79'), 'delayed');
      const waiting = await outboxDepth(ctx, 'J', 'E');
      ctx.check.equal("J's outbox for E holds the answer", waiting >= 1, true);
      const listed = await h.submissions();
      ctx.check.equal("H's submissions while his home is down, from K's copy (the delayed answer not yet)", [listed.status, listed.answers.length, listed.answers[0]], [200, ctx.state.answers + 1, { answer: '9.81', node: 'J' }]);
      return `node E killed (pid ${pids.join(', ')}); answered 9.79 on J: delayed, ${waiting} message(s) wait in J's outbox for E; his submissions page lists his earlier answers from K's copy of E`;
    },
  },
  {
    id: 'g-home-down',
    title: "G logs in on J while her home E is down (E's backup K checks her password) and answers: delayed",
    async run(ctx) {
      const loginsAtK = async () => Number(/^cohort_home_copy_answers_total\{(?=[^}]*use="login")[^}]*\} (\S+)$/m.exec((await nodeGet(ctx, 'K', '/metrics')).text)?.[1] ?? 0);
      const before = await loginsAtK();
      const g = await logIn(ctx, 'J', G);
      ctx.check.equal("G's password checked on K's copy of E (K's logins checked on copies went up)", (await loginsAtK()) > before, true);
      const page = await g.readProblem();
      ctx.check.equal('G: node and version', [page.node, page.version], ['J', ctx.state.after]);
      ctx.check.equal("G's answer's outcome", await g.answer(ctx.check, '9.80'), 'delayed');
      return "G logged in on J with E down (checked on K's copy of E) and answered 9.80: delayed on J for E";
    },
  },
  {
    id: 'e-back',
    title: 'E comes back; the delayed answers are delivered to it',
    breaks: 'E is not started again',
    async run(ctx) {
      const h = learnerNamed(ctx, H.user);
      if (!ctx.broken) await ctx.run.restart('E');
      const ms = await ctx.check.until("J's outbox for E", () => outboxDepth(ctx, 'J', 'E'), 0);
      const after = await h.submissions();
      ctx.check.equal("H's submissions, as E keeps them", [after.status, after.answers.length, after.answers.slice(0, 2)], [200, ctx.state.answers + 2, [{ answer: '9.79', node: 'J' }, { answer: '9.81', node: 'J' }]]);
      const g = await learnerNamed(ctx, G.user).submissions();
      ctx.check.equal("G's newest submission, as E keeps it", [g.status, g.answers[0]], [200, { answer: '9.80', node: 'J' }]);
      return `E restarted; J delivered the delayed answers ${ms} ms after E answered; E keeps them`;
    },
  },
  {
    id: 'd-back',
    title: "D comes back; A delivers the waiting notice and D's copy is brought up to date",
    breaks: 'D is not started again',
    async run(ctx) {
      if (!ctx.broken) await ctx.run.restart('D');
      const delivered = await ctx.check.until("A's outbox for D", () => outboxDepth(ctx, 'A', 'D'), 0);
      const updated = await ctx.check.until("D's copy of the problem", () => copyVersion(ctx, 'D'), ctx.state.after);
      const d = await nodeGet(ctx, 'D', DEMO_PROBLEM);
      ctx.check.equal(`GET ${DEMO_PROBLEM} on D: status, X-Cohort-Source, the revision in it`, [d.status, d.source, d.text.includes(ctx.state.marker)], [200, 'copy', true]);
      return `D restarted; A's notice delivered after ${delivered} ms, D's copy at version ${ctx.state.after} ${updated} ms later, served from the copy`;
    },
  },
  {
    id: 'l-joins',
    title: 'server L joins while learners work (no node restarted): every node takes the new host table, and a learner served by L reads the problem L copies on first access',
    breaks: 'L is added to the host table but not started',
    async run(ctx) {
      // G keeps reading on J the whole time: none of her reads may fail.
      const g = learnerNamed(ctx, G.user);
      let working = true;
      let reads = 0;
      const failed: string[] = [];
      const reading = (async () => {
        while (working) {
          try {
            const page = await g.readProblem();
            if (page.node !== 'J') failed.push(`served by ${page.node}`);
            reads++;
          } catch (err) {
            failed.push((err as Error).message);
          }
        }
      })();
      try {
        const ports = demoPorts(ctx.run.basePort);
        const added = await ctx.run.cli(['hosts', 'add', 'L', '--domain', 'rice', '--host', '127.0.0.1', '--link-port', String(ctx.run.basePort + 8), '--http-port', String(ports.http[0] + 8), '--app-base-port', String(ports.apps[0] + 80), '--from', 'J']);
        ctx.check.equal(`cohort hosts add L (${added.stderr.trim()})`, added.code, 0);
        ctx.run.tableChanged();
        const everyone = ['A', 'B', 'C', 'D', 'E', 'I', 'J', 'K'].filter((n) => n !== 'I'); // I is still down (i-down)
        const ms = await ctx.check.until('the nodes on version 2 of the host table', async () => (await Promise.all(everyone.map(async (n) => (await ctx.run.cliJson<{ version: number; running: number }>(['hosts', 'show', '--json', '-f', n])).running - ctx.state.tableVersion))).every((d) => d === 1), true);
        if (!ctx.broken) await ctx.run.restart('L');
        await ctx.check.until("L's app instances ready", async () => (await ctx.run.appUrls('L')).length, 2);
        // The front follows the new version through its node: L's own port (resources) and its two app instances become its back-ends.
        await ctx.check.until("the front's ready back-ends on L", async () => (await ctx.run.cliJson<{ backends: { node: string | null; state: string }[] }>(['front', 'status', '--json'])).backends.filter((b) => b.node === 'L' && b.state === 'ready').length, 3);
        const f = await logIn(ctx, 'L', F);
        const page = await f.readProblem();
        ctx.check.equal('F on L: node, version and source', [page.node, page.version, page.source], ['L', ctx.state.after, 'copied here for this request']);
        ctx.check.equal("A's subscribers of the problem include L", (await subscribersAtHome(ctx)).includes('L'), true);
        working = false;
        await reading;
        ctx.check.equal(`G's ${reads} reads on J while L joined: failed`, failed, []);
        return `L added (version ${ctx.state.tableVersion + 1}): every running node held it when checked ${ms} ms after the push (a cohort hosts show per node); L started, the front took its port and app instances, F read the problem there (copied on first access); G read it ${reads} times on J meanwhile, none failed`;
      } finally {
        working = false;
        await reading;
      }
    },
  },
  {
    id: 'f-moves',
    title: "F moves from her home A to B (cohort user move) while she answers: every answer of hers is on B, and she stays logged in",
    breaks: 'the move is not made',
    async run(ctx) {
      const f = learnerNamed(ctx, F.user);
      const before = await f.submissions();
      ctx.check.equal("F's submissions page", before.status, 200);
      // An answer every 200 ms, at most 12 (the courseware allows 20 tries a problem): some before the move, some while it runs, some after.
      const tries = Math.min(12, 20 - before.answers.length);
      const outcomes: string[] = [];
      let working = true;
      const answering = (async () => {
        while (working && outcomes.length < tries) {
          outcomes.push(await f.answer(ctx.check, `moving ${outcomes.length + 1}`));
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })();
      try {
        await ctx.check.until('F answering', async () => outcomes.length >= 2, true);
        if (!ctx.broken) {
          const moved = await ctx.run.cli(['user', 'move', F.user, '--domain', F.domain, '--to', 'B', '--from', 'C']);
          ctx.check.equal(`cohort user move ${F.user} --to B (${moved.stderr.trim()})`, moved.code, 0);
        }
        const atMove = outcomes.length;
        await ctx.check.until('F answering after the move', async () => outcomes.length >= Math.min(atMove + 2, tries), true);
      } finally {
        working = false;
        await answering.catch(() => undefined);
      }
      ctx.check.equal("her answers' outcomes that are neither ok nor delayed", outcomes.filter((o) => o !== 'ok' && o !== 'delayed'), []);
      const found = await ctx.run.cli(['call', 'C', 'home.find', JSON.stringify({ domain: F.domain, user: F.user }), '--from', 'C']);
      ctx.check.equal("F's home, as C finds it", found.code === 0 ? (JSON.parse(found.stdout) as { home: string }).home : found.stderr.trim(), 'B');
      // Her submissions page reads them from her home, B now: the earlier ones and each one made while she moved, once.
      await ctx.check.until("F's answers on B", async () => (await f.submissions()).answers.length, before.answers.length + outcomes.length);
      const texts = (await f.submissions()).answers.map((a) => a.answer).filter((a) => a.startsWith('moving '));
      ctx.check.equal('each answer made while she moved, once', [...texts].sort(), outcomes.map((_o, k) => `moving ${k + 1}`).sort());
      return `F answered ${outcomes.length} times while cohort user move took her from A to B (${outcomes.filter((o) => o === 'ok').length} ok, ${outcomes.filter((o) => o === 'delayed').length} delayed); C finds her on B, and her submissions, read from B, list all ${before.answers.length + outcomes.length}`;
    },
  },
];

/** The steps --break can break, with what it leaves undone in each. */
export const BREAKABLE = STEPS.filter((s) => s.breaks).map((s) => ({ id: s.id, breaks: s.breaks! }));
