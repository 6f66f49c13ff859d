// @fastify/session's store on Cohort's embedded session store (client.sessions).
//   app.register(fastifySession, { store, idGenerator: store.genid, secret, saveUninitialized: false })
// set() sends only the keys changed since that request's get() (the read's id rides in the
// session as READ_KEY; see adapter-core.ts).
import { SessionCore, toCallback, type CohortStoreOptions } from './adapter-core.ts';

export type { CohortStoreOptions } from './adapter-core.ts';

type Callback = (err?: unknown) => void;

export class CohortFastifyStore {
  private readonly core: SessionCore;
  /** The id generator to give @fastify/session (`idGenerator: store.genid`): sessions live first on this node. */
  readonly genid: () => string;

  constructor(opts: CohortStoreOptions) {
    this.core = new SessionCore(opts);
    this.genid = this.core.genid;
  }

  get(sessionId: string, callback: (err: unknown, session?: any) => void): void {
    toCallback(async () => (await this.core.load(sessionId, true))?.data ?? null, callback);
  }

  set(sessionId: string, session: object, callback: Callback): void {
    toCallback(() => this.core.save(sessionId, session), callback);
  }

  destroy(sessionId: string, callback: Callback): void {
    toCallback(() => this.core.destroy(sessionId), callback);
  }
}
