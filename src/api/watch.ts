// The event stream of a run as an async iterator, next to runExperiment's onEvent callback:
//   const run = watchRun(exp, { signal });
//   for await (const ev of run) if (ev.type === "epoch") console.log(ev.data.knnTop1);
//   const summary = await run.summary;
import type { ResolvedExperiment } from "../experiment/index.js";
import type { EventRecord, RunSummary } from "../runs/types.js";
import { runExperiment, type RunOptions } from "./run.js";

export interface RunWatch extends AsyncIterable<EventRecord> {
  /** Settles when the run ends: its summary, or the error runExperiment rejects with. */
  readonly summary: Promise<RunSummary>;
}

/**
 * Starts the run at once and yields its events in order. The loop ends after the terminal
 * event; it throws what the run rejects with. Leaving the loop early (break, return, throw)
 * cancels the run gracefully, as aborting `signal` does.
 */
export function watchRun(exp: ResolvedExperiment, opts: Omit<RunOptions, "onEvent"> = {}): RunWatch {
  const queue: EventRecord[] = [];
  let wake: (() => void) | null = null;
  let settled = false;
  let failure: { error: unknown } | null = null;
  const left = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, left.signal]) : left.signal;
  const summary = runExperiment(exp, {
    ...opts,
    signal,
    onEvent: (ev) => {
      queue.push(ev);
      wake?.();
    },
  });
  summary.then(
    () => {
      settled = true;
      wake?.();
    },
    (error: unknown) => {
      settled = true;
      failure = { error };
      wake?.();
    },
  );

  async function* events(): AsyncGenerator<EventRecord> {
    try {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        if (settled) {
          if (failure) throw failure.error;
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } finally {
      if (!settled) left.abort(new Error("stopped watching the run"));
    }
  }
  return { summary, [Symbol.asyncIterator]: events };
}
