// The sweep's scheduler: each run goes to the next free worker. A worker that becomes
// unreachable mid-run (UNAVAILABLE for longer than reconnectForMs) is dropped from the pool and
// its run is queued again, first in line, as a resume: the next free worker continues it from
// its last checkpoint. That needs the checkpoint where the new worker looks: local workers
// sharing one run root (the default) find it; a worker that never saw the run (another machine)
// answers NOT_FOUND and the run starts over there (the caller's `run` decides). Idle workers
// wait while runs are still in flight on other workers, since a lost worker may hand its run
// back to the queue. A run that ends `interrupted` (its worker was signalled or died, not a
// cancel) is queued again the same way, up to MAX_INTERRUPT_RESUMES times in a row without
// progress. Batch-job workers (a WorkerSupply) are asked before each run whether their job
// still runs, and replaced when it stopped.
import { UnavailableError } from "../client/errors.js";
import type { SweepRun } from "../experiment/index.js";
import type { RunningWorker } from "../workers/types.js";
import type { RunSummary } from "../runs/types.js";

/** Workers that can be brought back (batch jobs): scheduleRuns asks before each run. */
export interface WorkerSupply {
  /** Whether this worker can take another run. */
  usable(worker: RunningWorker): Promise<boolean>;
  /** A worker in place of a lost one (null: none will come). */
  replace(lost: RunningWorker): Promise<RunningWorker | null>;
}

const RECONNECT_WITH_SPARE_WORKERS_MS = 3_000;
const RECONNECT_ALONE_MS = 60_000;
const MAX_INTERRUPT_RESUMES = 3;

export interface QueueItem {
  run: SweepRun;
  resume: boolean;
}

export interface ScheduleOptions {
  /**
   * How long a run keeps re-attaching to a worker that stopped answering before the worker is
   * given up and the run moves to another one. Default: 3 s when other workers are left to take
   * it over, else 60 s (a lone worker may just be restarting).
   */
  reconnectForMs?: number;
  onRunStart?: (run: SweepRun, worker: RunningWorker, resumed: boolean) => void;
  /** A worker given up: unreachable mid-run (its run moves on), or not reachable at the start. */
  onWorkerLost?: (worker: Pick<RunningWorker, "kind" | "address">, err: Error) => void;
  signal?: AbortSignal;
  supply?: WorkerSupply;
}

/**
 * Runs the queue over the workers: each worker takes the next item when it is free. A worker
 * that fails with UnavailableError is dropped and its item goes back to the front of the queue
 * as a resume, unless no other worker is left. Other errors stop the scheduling of new runs; the
 * runs in flight are awaited, then the first error is thrown.
 */
export async function scheduleRuns(
  workers: (RunningWorker | Promise<RunningWorker>)[],
  queue: QueueItem[],
  run: (item: QueueItem, worker: RunningWorker, reconnectForMs: number) => Promise<RunSummary>,
  opts: ScheduleOptions,
  onDone: (item: QueueItem, summary: RunSummary) => void,
): Promise<void> {
  let alive = workers.length;
  let inFlight = 0;
  // Interruptions in a row without progress, per run: a batch job's time limit interrupts a
  // long run again and again, each time after more steps, and that must go on.
  const interruptions = new Map<string, { times: number; steps: number }>();
  let fatal: unknown = null;
  let wake: () => void = () => undefined;
  let changed = new Promise<void>((r) => (wake = r));
  const notify = () => {
    wake();
    changed = new Promise<void>((r) => (wake = r));
  };
  const onAbort = () => notify();
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  // A worker still to come (a batch job) is awaited; Ctrl-C stops the wait.
  const arrival = async (w: RunningWorker | Promise<RunningWorker>): Promise<RunningWorker | null> => {
    if (!(w instanceof Promise)) return w;
    const aborted = new Promise<null>((r) => opts.signal?.addEventListener("abort", () => r(null), { once: true }));
    return Promise.race([w, aborted]);
  };
  // A worker that never came (or whose replacement never came) is one fewer; the last one's
  // error is the sweep's.
  const workerLost = (err: unknown) => {
    alive--;
    if (alive === 0) fatal ??= err;
    notify();
  };
  const loop = async (pending: RunningWorker | Promise<RunningWorker>): Promise<void> => {
    let worker: RunningWorker | null;
    try {
      worker = await arrival(pending);
    } catch (err) {
      workerLost(err);
      return;
    }
    if (!worker) return;
    for (;;) {
      if (fatal || opts.signal?.aborted) return;
      if (opts.supply && queue.length && !(await opts.supply.usable(worker))) {
        // Its job stopped (time limit, preemption, scancel): wait for the one in its place.
        opts.onWorkerLost?.(worker, new Error("its batch job stopped"));
        try {
          worker = await arrival(opts.supply.replace(worker) as Promise<RunningWorker>);
        } catch (err) {
          workerLost(err);
          return;
        }
        if (!worker) return;
        continue;
      }
      const item = queue.shift();
      if (!item) {
        if (inFlight === 0) return;
        await changed; // a run in flight elsewhere may come back to the queue
        continue;
      }
      inFlight++;
      const reconnectForMs = opts.reconnectForMs ?? (alive > 1 ? RECONNECT_WITH_SPARE_WORKERS_MS : RECONNECT_ALONE_MS);
      try {
        opts.onRunStart?.(item.run, worker, item.resume);
        const summary = await run(item, worker, reconnectForMs);
        const seen = interruptions.get(item.run.runId);
        const times = seen && summary.steps <= seen.steps ? seen.times : 0;
        if (summary.state === "interrupted" && times < MAX_INTERRUPT_RESUMES && !opts.signal?.aborted) {
          interruptions.set(item.run.runId, { times: times + 1, steps: summary.steps });
          queue.unshift({ run: item.run, resume: true });
          continue;
        }
        onDone(item, summary);
      } catch (err) {
        if (err instanceof UnavailableError && opts.supply && !opts.signal?.aborted) {
          // Its batch job stopped mid-run: the run goes back first in line as a resume, and
          // this loop goes on with the worker that takes the job's place.
          queue.unshift({ run: item.run, resume: true });
          notify();
          opts.onWorkerLost?.(worker, err);
          const lost = worker;
          worker = null;
          try {
            worker = await arrival(opts.supply.replace(lost) as Promise<RunningWorker>);
          } catch (e) {
            fatal ??= alive > 1 ? null : e;
            alive--;
          }
          if (!worker) return;
          continue;
        }
        if (err instanceof UnavailableError && alive > 1 && !opts.signal?.aborted) {
          // This worker is gone: hand its run to the others, resumed from its checkpoint.
          alive--;
          queue.unshift({ run: item.run, resume: true });
          opts.onWorkerLost?.(worker, err);
          return;
        }
        fatal ??= err;
        return;
      } finally {
        inFlight--;
        notify();
      }
    }
  };
  try {
    await Promise.all(workers.map((w) => loop(w)));
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
  if (fatal) throw fatal;
  if (queue.length && !opts.signal?.aborted) {
    throw new Error(`sweep: ${queue.length} run(s) left (${queue.map((q) => q.run.runId).join(", ")}) and no worker to run them`);
  }
}
