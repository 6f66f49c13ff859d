// express-session's Store on Cohort's embedded session store (client.sessions).
//   app.use(session({ store, genid: store.genid, secret, resave: false, saveUninitialized: false }))
// Each request's set() sends only the keys it changed since its own get() (see adapter-core.ts).
import type { Request } from 'express';
import session from 'express-session';
import { SessionCore, toCallback, type Base, type CohortStoreOptions } from './adapter-core.ts';

export type { CohortStoreOptions } from './adapter-core.ts';

type Callback = (err?: unknown, value?: unknown) => void;

export class CohortSessionStore extends session.Store {
  private readonly core: SessionCore;
  /** What each request read, keyed by its session object: exact per-request diffs. */
  private readonly readBy = new WeakMap<object, Base>();
  /** The id generator to give express-session (`genid: store.genid`): sessions live first on this node. */
  readonly genid: () => string;

  constructor(opts: CohortStoreOptions) {
    super();
    this.core = new SessionCore(opts);
    this.genid = this.core.genid;
  }

  override get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void {
    toCallback(async () => {
      const found = await this.core.load(sid);
      if (!found) return null;
      this.readBy.set(found.data, found.base);
      return found.data as unknown as session.SessionData;
    }, callback as Callback);
  }

  /** express-session copies what get() returned into a new Session object: carry the base over to it. */
  override createSession(req: Request, data: session.SessionData): session.Session & session.SessionData {
    const base = this.readBy.get(data);
    const sess = super.createSession(req, data);
    if (base) this.readBy.set(sess, base);
    return sess;
  }

  override set(sid: string, sess: session.SessionData, callback?: (err?: unknown) => void): void {
    toCallback(() => this.core.save(sid, sess, this.readBy.get(sess)), callback as Callback);
  }

  override touch(sid: string, sess: session.SessionData, callback?: (err?: unknown) => void): void {
    toCallback(() => this.core.touch(sid, sess), callback as Callback);
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    toCallback(() => this.core.destroy(sid), callback as Callback);
  }
}
