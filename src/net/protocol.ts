import { CohortError, type ErrorCode, isErrorCode } from '../errors.ts';

// The messages that travel in frames, on links between nodes and on the local socket.
// A link opens with hello (dialer) and welcome or refuse (acceptor); then requests and
// replies flow, matched by id, many in flight at once; hb keeps an idle link honest.

export const PROTOCOL_VERSION = 1;

/** tv, th: the version and hash (SHA-256, hex) of the host table the dialer holds (issue 28; absent: an unversioned table). */
/** table: the signed host table itself, brought by a dialer whose peer may not hold it yet (a new node started on it, issue 28). */
export interface HelloMessage { t: 'hello'; v: number; cluster: string; node: string; tv?: number; th?: string; table?: { text: string; signature: string } }

/** A signed table brought in a hello: at most this many characters of text (MAX_TABLE_BYTES bytes is checked with its signature). */
const MAX_HELLO_TABLE_CHARS = 1024 * 1024;
export interface WelcomeMessage { t: 'welcome'; v: number; node: string }
export interface RefuseMessage { t: 'refuse'; code: ErrorCode; message: string }
/**
 * to: the target node (local socket only). crit: send as a critical message (local socket
 * only). mid: a critical message's id on a link; the receiver applies it once. oldest: with
 * mid, the outbox seq of the sender's oldest message to this peer not yet done (acknowledged
 * or set aside); any of its messages before that one will never be sent again. lane: with mid,
 * the home whose writes these are, sent to whichever of it and its backup holds its lease (issue
 * 27): the receiver keeps such messages' ids and order apart from the sender's others.
 */
export interface RequestMessage { t: 'req'; id: number; cmd: string; args?: unknown; to?: string; crit?: boolean; mid?: string; oldest?: number; lane?: string }
export type ReplyMessage =
  | { t: 'res'; id: number; ok: true; data?: unknown }
  | { t: 'res'; id: number; ok: false; code: ErrorCode; message: string };
/** tv, th: as in hello, the host table the sender holds now (issue 28). */
export interface HeartbeatMessage { t: 'hb'; tv?: number; th?: string }

export type Message = HelloMessage | WelcomeMessage | RefuseMessage | RequestMessage | ReplyMessage | HeartbeatMessage;

const MAX_NAME = 64;

function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME;
}

/** A name that is a key in the receiver's stores (message ids, lanes): printable ASCII only. */
function isKey(v: unknown): v is string {
  return isName(v) && /^[\x21-\x7e]+$/.test(v);
}

/** Checks the shape of a decoded frame; anything else is a bad_frame. */
export function validateMessage(m: unknown): Message {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new CohortError('bad_frame', 'frame is not a JSON object');
  const msg = m as Record<string, unknown>;
  switch (msg.t) {
    case 'req':
      if (!Number.isSafeInteger(msg.id)) throw new CohortError('bad_frame', 'req.id must be an integer');
      if (!isName(msg.cmd)) throw new CohortError('bad_frame', `req.cmd must be a string of 1-${MAX_NAME} characters`);
      if (msg.to !== undefined && !isName(msg.to)) throw new CohortError('bad_frame', `req.to must be a string of 1-${MAX_NAME} characters`);
      if (msg.crit !== undefined && typeof msg.crit !== 'boolean') throw new CohortError('bad_frame', 'req.crit must be a boolean');
      // Printable ASCII: an id is a key in the receiver's store (SQLite or PostgreSQL), which must not fold two ids into one.
      if (msg.mid !== undefined && !isKey(msg.mid)) throw new CohortError('bad_frame', `req.mid must be 1-${MAX_NAME} printable ASCII characters`);
      if (msg.oldest !== undefined && !(Number.isSafeInteger(msg.oldest) && (msg.oldest as number) >= 0)) throw new CohortError('bad_frame', 'req.oldest must be a non-negative integer');
      if (msg.lane !== undefined && !(isKey(msg.lane) && msg.mid !== undefined)) throw new CohortError('bad_frame', `req.lane must be 1-${MAX_NAME} printable ASCII characters, with a mid`);
      return msg as unknown as RequestMessage;
    case 'res':
      if (!Number.isSafeInteger(msg.id)) throw new CohortError('bad_frame', 'res.id must be an integer');
      if (msg.ok === true) return msg as unknown as ReplyMessage;
      if (msg.ok === false && isErrorCode(msg.code) && typeof msg.message === 'string') return msg as unknown as ReplyMessage;
      throw new CohortError('bad_frame', 'res must have ok: true, or ok: false with a known code and a message');
    case 'hb':
      if (msg.tv !== undefined) checkTable(msg, 'hb');
      return msg as unknown as HeartbeatMessage;
    case 'hello':
      if (!Number.isInteger(msg.v) || !isName(msg.cluster) || !isName(msg.node)) throw new CohortError('bad_frame', 'hello needs v, cluster and node');
      if (msg.tv !== undefined) checkTable(msg, 'hello');
      if (msg.table !== undefined && !isBroughtTable(msg.table)) throw new CohortError('bad_frame', `hello.table must be { text, signature }: strings, the text at most ${MAX_HELLO_TABLE_CHARS} characters`);
      return msg as unknown as HelloMessage;
    case 'welcome':
      if (!Number.isInteger(msg.v) || !isName(msg.node)) throw new CohortError('bad_frame', 'welcome needs v and node');
      return msg as unknown as WelcomeMessage;
    case 'refuse':
      if (!isErrorCode(msg.code) || typeof msg.message !== 'string') throw new CohortError('bad_frame', 'refuse needs a code and a message');
      return msg as unknown as RefuseMessage;
    default:
      throw new CohortError('bad_frame', `unknown frame type ${JSON.stringify(msg.t)}`);
  }
}

function isBroughtTable(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const t = v as Record<string, unknown>;
  return Object.keys(t).length === 2 && typeof t.text === 'string' && t.text.length <= MAX_HELLO_TABLE_CHARS && typeof t.signature === 'string' && t.signature.length <= 200;
}

/** A host table's version and hash, as hello and hb carry them. */
function checkTable(msg: Record<string, unknown>, what: string): void {
  if (!(Number.isSafeInteger(msg.tv) && (msg.tv as number) >= 1 && typeof msg.th === 'string' && /^[0-9a-f]{64}$/.test(msg.th))) throw new CohortError('bad_frame', `${what}.tv must be a positive integer, with th a SHA-256 in hex`);
}
