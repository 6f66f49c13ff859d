/** Why the front itself answered a request with an error (a fixed set: a bounded metrics label). */
export const FRONT_ERROR_REASONS = ['no_backend', 'admission_full', 'admission_timeout', 'dispatcher', 'upstream_error', 'upstream_timeout', 'bad_response'] as const;
export type FrontErrorReason = (typeof FRONT_ERROR_REASONS)[number];

/** Told where each request ends (the front's metrics); nothing is told when there is none. */
export interface RequestObserver {
  /** A back-end answered (`status`); `ms` since the front accepted the request. `backend` is its series label. */
  answered(route: string, backend: string, status: number, ms: number): void;
  /** The front answered with an error of its own. */
  failed(route: string, reason: FrontErrorReason): void;
  /** A request that failed on `backend` (its series label) before any answer is tried again on another. */
  retried(route: string, backend: string): void;
}
