/** Delays for retrying: `initialMs`, doubling per attempt, never more than `maxMs`. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** The delay before retry number `attempt` (0 for the first retry). */
export const backoffDelay = (b: Backoff, attempt: number): number => Math.min(b.maxMs, b.initialMs * 2 ** Math.min(attempt, 30));
