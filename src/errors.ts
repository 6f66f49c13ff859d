// Every error a caller may test carries a stable code. Codes cross the wire as-is,
// so they are the contract between nodes, the client library and the CLI.
export const ERROR_CODES = [
  'unknown_cmd', // no command of that name on the target node
  'no_such_host', // the target node is not in the host table
  'con_lost', // the peer could not be reached, or the link dropped before a reply
  'refused', // not allowed: wrong scope, wrong domain, identity mismatch
  'bad_args', // the command's arguments did not validate
  'bad_frame', // a frame that could not be decoded
  'no_such_user', // no library node of the domain knows the user
  'rate_limited', // too many recent failures (logins); try again later
  'too_large', // a value over its bound (a session past its size limit)
  'not_found', // no such resource (or version) on its home node
  'conflict', // the state changed since the caller read it (a publish based on a version that is no longer the newest)
  'insufficient_storage', // the node's disk is below its free-space floor (or a copy is over its budget): nothing was stored
  'moved', // the user lives on another home now (`cohort user move`); the message ends with 'lives on <node> now'
  'internal', // a bug or an unexpected failure on the executing node
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error with a stable code a caller may test; each family of errors names its codes. */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The network's errors: their codes cross the wire. */
export class CohortError extends CodedError<ErrorCode> {}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** The reply code (`moved`) of a command for a user who lives on another node now; its message ends with the node. */
const MOVED_TO = / lives on ([A-Za-z0-9][A-Za-z0-9_-]{0,31}) now$/;

export function movedError(domain: string, user: string, to: string): CohortError {
  return new CohortError('moved', `${user}@${domain} lives on ${to} now`);
}

/** The node a 'moved' error names, if it is one. */
export function movedTo(err: unknown): string | undefined {
  if (!(err instanceof CohortError) || err.code !== 'moved') return undefined;
  return MOVED_TO.exec(err.message)?.[1];
}

/** What an operator reads of an error: `code: message` for the network's errors, else the message. */
export function errorText(err: unknown): string {
  if (err instanceof CohortError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Turns anything thrown into a code and a message fit for a reply. */
export function toReplyError(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof CohortError) return { code: err.code, message: err.message };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}
