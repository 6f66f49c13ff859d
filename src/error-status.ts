import type { ErrorCode } from './errors.ts';

/**
 * Each error code as an HTTP status, with seed 000's title for its error page: the one table
 * for every HTTP edge (a node's resource port, raw transfers both ways). Codes a client cannot
 * act on are a 500.
 */
const STATUS: Record<ErrorCode, [number, string]> = {
  bad_args: [400, 'Bad Request'],
  refused: [403, 'Access Denied'],
  not_found: [404, 'File not Found'],
  no_such_user: [404, 'File not Found'], // an unknown author reads as a missing resource
  conflict: [409, 'Conflict'],
  too_large: [413, 'Content Too Large'],
  con_lost: [503, 'Service currently not available'],
  moved: [503, 'Service currently not available'], // answered between nodes; a client asks again and is sent to her new home
  rate_limited: [503, 'Service currently not available'],
  insufficient_storage: [507, 'Insufficient Storage'],
  unknown_cmd: [500, 'Internal Server Error'],
  no_such_host: [500, 'Internal Server Error'],
  bad_frame: [500, 'Internal Server Error'],
  internal: [500, 'Internal Server Error'],
};

/** The status and page title an error with `code` is answered with. */
export function httpStatusOf(code: ErrorCode): { status: number; title: string } {
  const [status, title] = STATUS[code];
  return { status, title };
}

/** Back from a status to its code (the first code of the table that has it); a 500 or any other is con_lost. */
const CODE_OF = new Map<number, ErrorCode>();
for (const [code, [status]] of Object.entries(STATUS) as [ErrorCode, [number, string]][]) if (status !== 500 && !CODE_OF.has(status)) CODE_OF.set(status, code);

/** The error code a peer's non-2xx status stands for (raw transfers). */
export function errorCodeOf(status: number): ErrorCode {
  return CODE_OF.get(status) ?? 'con_lost';
}
