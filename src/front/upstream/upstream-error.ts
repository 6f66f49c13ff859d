import { CodedError } from '../../errors.ts';

/** Why a request to a back-end failed; the front's own, never sent over the network. */
export type UpstreamCode =
  | 'connect_failed' // the back-end refused or could not be reached
  | 'connect_timeout' // no connection within timeouts.connectMs
  | 'timeout' // the back-end sent nothing within timeouts.upstreamMs
  | 'queue_full' // limits.queueSize requests already wait for a connection
  | 'queue_timeout' // no connection freed within limits.queueTimeoutMs
  | 'closed' // the pool was closed (the back-end left the configuration)
  | 'protocol'; // the back-end's response broke HTTP/1.1

export class UpstreamError extends CodedError<UpstreamCode> {}

/** No connection was made: nothing reached the back-end (it is unreachable, and any request may go elsewhere). */
export function neverConnected(err: unknown): boolean {
  return err instanceof UpstreamError && (err.code === 'connect_failed' || err.code === 'connect_timeout');
}
