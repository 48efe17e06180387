// The retry policy towards a worker, in one place: only an unreachable worker (UNAVAILABLE) is
// worth another try, every other error is the worker's answer; tries are paced by a fixed
// interval and stop once the worker has been unreachable for longer than a window.
import { UnavailableError } from "./errors.js";

export interface RetryPolicy {
  /** How long to keep trying while the worker stays unreachable, in milliseconds. @default 60_000 */
  forMs?: number;
  /** Pause between two tries, in milliseconds. @default 500 */
  intervalMs?: number;
}

export const DEFAULT_RETRY: Required<RetryPolicy> = { forMs: 60_000, intervalMs: 500 };

/** True for the errors a later try can cure: the worker could not be reached. */
export function isRetryable(err: unknown): err is UnavailableError {
  return err instanceof UnavailableError;
}

/** One stretch of unreachability: `next(err)` rethrows what no retry cures (or what has lasted
 *  longer than the window) and otherwise waits the interval; `reset()` after every success. */
export class Outage {
  private readonly policy: Required<RetryPolicy>;
  private since: number | null = null;

  constructor(policy: RetryPolicy = {}) {
    this.policy = { forMs: policy.forMs ?? DEFAULT_RETRY.forMs, intervalMs: policy.intervalMs ?? DEFAULT_RETRY.intervalMs };
  }

  async next(err: unknown): Promise<void> {
    if (!isRetryable(err)) throw err;
    this.since ??= Date.now();
    if (Date.now() - this.since > this.policy.forMs) throw err;
    await new Promise((r) => setTimeout(r, this.policy.intervalMs));
  }

  reset(): void {
    this.since = null;
  }
}
