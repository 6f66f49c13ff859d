import { get as httpGet } from 'node:http';
import { Browser } from './browser.ts';
import { StepFailure, type Checker } from './checker.ts';

// A learner of the scenario, at one app instance: logs in, reads the course's problem, answers
// it and lists her answers, reading what the courseware app's pages say (examples/courseware/).

export interface Credentials {
  user: string;
  domain: string;
  password: string;
}

/** The problem page as the learner sees it: which node served it, which version, from where (the copy's source). */
export interface ProblemPage {
  node: string;
  version: number;
  source: string;
  text: string;
}

export class Learner {
  readonly who: Credentials;
  readonly app: string;
  private readonly browser = new Browser();
  /** The form token of the last problem page she read (the app refuses an answer without it). */
  private formToken = '';

  constructor(who: Credentials, app: string) {
    this.who = who;
    this.app = app;
  }

  /** Logs in at her app instance: the session is made there (303 to /, no hand-over to another node). */
  async logIn(check: Checker): Promise<void> {
    const page = await this.browser.post(`${this.app}/login`, { user: this.who.user, domain: this.who.domain, password: this.who.password });
    // Another answer says why on its page (the app's 503 names the store error): the failure carries it.
    const why = page.status === 303 ? '' : ` (its page: ${pageText(page.text)})`;
    check.equal(`${this.who.user}'s login at ${this.app}${why}`, [page.status, page.location], [303, '/']);
  }

  async readProblem(): Promise<ProblemPage> {
    const page = await this.browser.get(`${this.app}/course/problem1`);
    if (page.status !== 200) throw new StepFailure(`${this.who.user}: GET ${this.app}/course/problem1 answered ${page.status}`);
    const served = /Served by node (\w+): \S+ version (\d+) \(([^)]*)\)/.exec(page.text);
    if (!served) throw new StepFailure(`${this.who.user}: the problem page does not say which node served which version`);
    if (!page.text.includes(`Logged in as <b>${this.who.user}</b>`)) throw new StepFailure(`${this.who.user}: the problem page does not show her logged in (session lost?)`);
    this.formToken = /name="form_token" value="([^"]*)"/.exec(page.text)?.[1] ?? '';
    return { node: served[1], version: Number(served[2]), source: served[3], text: page.text };
  }

  /** Her answers as the app lists them, newest first (read from her home node, or its backup while it is down; 503 while neither answers). */
  async submissions(): Promise<{ status: number; answers: { answer: string; node: string }[] }> {
    const page = await this.browser.get(`${this.app}/course/submissions`);
    const rows = [...page.text.matchAll(/<td class="answer">([^<]*)<\/td><td>(?:yes|no)<\/td><td>([^<]*)<\/td>/g)];
    return { status: page.status, answers: rows.map((m) => ({ answer: m[1], node: m[2] })) };
  }

  /** Answers the problem from its page; resolves with what the app says became of it ('ok' or 'delayed'). */
  async answer(check: Checker, text: string): Promise<string> {
    if (!this.formToken) await this.readProblem();
    const page = await this.browser.post(`${this.app}/course/problem1/answer`, { answer: text, form_token: this.formToken });
    check.equal(`${this.who.user}'s answer ${text}: the app's answer`, page.status, 303);
    return /recorded=(\w+)/.exec(page.location ?? '')?.[1] ?? `(no outcome in ${page.location})`;
  }

  /**
   * Tries her app instance's address on a connection of its own, as a browser that never used it
   * would: the pooled keep-alive connections of earlier learners would end in a reset, not a refusal,
   * when their server has just died.
   */
  reach(): Promise<string> {
    return new Promise((resolve) => {
      const req = httpGet(this.app, { agent: false, timeout: 15_000 }, (res) => {
        res.resume();
        resolve(`answered ${res.statusCode}`);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : `failed: ${err.code ?? err.message}`));
    });
  }
}

/** A page's words without its markup, for a failure's message. */
function pageText(html: string): string {
  const text = html.replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
