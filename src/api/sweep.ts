// Sweeps: expand the grid, run every run not finished yet over a pool of workers (one local
// worker by default), and record the sweep in sweeps/<name>/sweep.json.
//
// Scheduling: each run goes to the next free worker. A worker that becomes unreachable
// mid-run (UNAVAILABLE for longer than reconnectForMs) is dropped from the pool and its run is
// queued again, first in line, as a resume: the next free worker continues it from its last
// checkpoint. That needs the checkpoint where the new worker looks: local workers sharing one
// run root (the default) find it; a worker that never saw the run (another machine) answers
// NOT_FOUND and the run starts over there. Idle workers wait while runs are still in flight on
// other workers, since a lost worker may hand its run back to the queue. A run that ends
// `interrupted` (its worker was signalled or died, not a cancel) is queued again the same way,
// up to MAX_INTERRUPT_RESUMES times in a row without progress; a later sweep also resumes every run not finished.
import { join, resolve } from "node:path";
import { expandSweep, type ResolvedExperiment, type SweepRun } from "../experiment/index.js";
import { executeRun } from "../execution/execute.js";
import { obtainWorker, type RuntimeConfig } from "../runtime/index.js";
import type { JobStateChange } from "../runtime/slurm.js";
import type { RunningWorker } from "../runtime/types.js";
import { RunDir } from "../runs/store.js";
import { writeJsonAtomic } from "../util/atomic.js";
import type { EventRecord, RunSummary, SweepRecord } from "../runs/types.js";
import { NotFoundError, UnavailableError } from "../client/errors.js";
import { checkLocalDataRoot, localDataRoots, specFor, writeEvalFromEvents } from "./run.js";

export interface SweepOptions {
  experimentFile?: string;
  runsRoot?: string;
  sweepsRoot?: string;
  /** Workers to use (not stopped afterwards); default: obtain them from the runtime. */
  workers?: RunningWorker[];
  /** Runtime to obtain workers from (default: the experiment's). */
  runtime?: RuntimeConfig;
  /** Runs at once (default: sweep.parallel, else 1). */
  parallel?: number;
  /**
   * How long a run keeps re-attaching to a worker that stopped answering before the worker is
   * given up and the run moves to another one. Default: 3 s when other workers are left to take
   * it over, else 60 s (a lone worker may just be restarting).
   */
  reconnectForMs?: number;
  onRunStart?: (run: SweepRun, worker: RunningWorker, resumed: boolean) => void;
  onEvent?: (run: SweepRun, ev: EventRecord) => void;
  onRunEnd?: (run: SweepRun, summary: RunSummary) => void;
  onSkip?: (run: SweepRun, summary: RunSummary) => void;
  /** A worker given up: unreachable mid-run (its run moves on), or not reachable at the start. */
  onWorkerLost?: (worker: Pick<RunningWorker, "kind" | "address">, err: Error) => void;
  /** Batch job state changes (slurm runtime). */
  onJobState?: (change: JobStateChange) => void;
  signal?: AbortSignal;
  killSignal?: AbortSignal;
}

/** Workers that can be brought back (batch jobs): scheduleRuns asks before each run. */
export interface WorkerSupply {
  /** Whether this worker can take another run. */
  usable(worker: RunningWorker): Promise<boolean>;
  /** A worker in place of a lost one (null: none will come). */
  replace(lost: RunningWorker): Promise<RunningWorker | null>;
}

export interface SweepResult {
  sweepDir: string;
  runDirs: string[];
  summaries: RunSummary[];
}

const RECONNECT_WITH_SPARE_WORKERS_MS = 3_000;
const RECONNECT_ALONE_MS = 60_000;
const MAX_INTERRUPT_RESUMES = 3;

function isDone(runDir: RunDir, needsEval: boolean): RunSummary | null {
  const s = runDir.readSummary();
  if (!s || s.state !== "finished") return null;
  if (needsEval && !runDir.readEval()) return null;
  return s;
}

export interface QueueItem {
  run: SweepRun;
  resume: boolean;
}

export async function runSweep(exp: ResolvedExperiment, opts: SweepOptions = {}): Promise<SweepResult> {
  const runs = expandSweep(exp);
  // before anything is written or started
  for (const r of runs) checkLocalDataRoot(r.experiment, { worker: opts.workers?.[0], runtime: opts.runtime ?? exp.runtime });
  const runsRoot = resolve(opts.runsRoot ?? "runs");
  const sweepDir = resolve(opts.sweepsRoot ?? "sweeps", exp.name);
  const record: SweepRecord = { name: exp.name, experimentFile: opts.experimentFile ?? "", runsRoot, runIds: runs.map((r) => r.runId), createdAt: new Date().toISOString(), ...(exp.report?.baseline ? { baseline: exp.report.baseline } : {}) };
  writeJsonAtomic(join(sweepDir, "sweep.json"), record);

  const summaries = new Map<string, RunSummary>();
  const queue: QueueItem[] = [];
  for (const run of runs) {
    const runDir = new RunDir(join(runsRoot, run.runId));
    const done = isDone(runDir, run.experiment.train.evalAtEnd);
    if (done) {
      summaries.set(run.runId, done);
      opts.onSkip?.(run, done);
    } else {
      queue.push({ run, resume: runDir.exists() });
    }
  }

  const owned: RunningWorker[] = [];
  let workers: (RunningWorker | Promise<RunningWorker>)[] = opts.workers ?? [];
  let supply: WorkerSupply | undefined;
  let pool: { stop(): Promise<void> } | undefined;
  try {
    if (!workers.length && queue.length) {
      const rt = opts.runtime ?? exp.runtime;
      const addresses = rt.kind === "remote" && rt.workers?.length ? rt.workers : null;
      const count = sweepWorkerCount(exp, rt, queue.length, opts.parallel);
      const dataRoots = [...new Set(runs.flatMap((r) => localDataRoots(r.experiment)))];
      if (addresses) {
        // Workers started elsewhere: sweep over those that answer; say which do not.
        const tries = await Promise.allSettled(addresses.map((address) => obtainWorker({ ...rt, address }, { runRoot: runsRoot, dataRoots })));
        tries.forEach((t, i) => {
          if (t.status === "fulfilled") owned.push(t.value);
          else opts.onWorkerLost?.({ kind: "remote", address: addresses[i]! }, t.reason as Error);
        });
        if (!owned.length) throw (tries[0] as PromiseRejectedResult).reason;
      } else if (rt.kind === "slurm") {
        // Batch jobs: submitted at once, used as they start, brought back when they stop.
        const { startSlurmPool } = await import("../runtime/slurm.js");
        const nnodes = Math.max(...runs.map((r) => r.experiment.train.nnodes));
        const started = await startSlurmPool(count, {
          settings: rt.slurm ?? {}, nnodes, runRoot: runsRoot, dataRoots, python: rt.python, clientTls: rt.tls,
          onJobState: opts.onJobState, signal: opts.signal,
        });
        pool = started.pool;
        supply = started.pool;
        workers = started.workers;
      } else {
        for (let i = 0; i < count; i++) owned.push(await obtainWorker(rt, { runRoot: runsRoot, dataRoots }));
      }
      if (!pool) workers = owned;
    }
    await scheduleRuns(workers, queue, (item, worker, reconnectForMs) => runOne(exp, item, worker, runsRoot, reconnectForMs, opts), { ...opts, supply }, (item, s) => {
      summaries.set(item.run.runId, s);
      opts.onRunEnd?.(item.run, s);
    });
  } finally {
    await Promise.all(owned.map((w) => w.stop().catch(() => undefined)));
    await pool?.stop();
  }
  return {
    sweepDir,
    runDirs: runs.map((r) => join(runsRoot, r.runId)),
    summaries: runs.map((r) => summaries.get(r.runId)).filter((s): s is RunSummary => Boolean(s)),
  };
}

/**
 * How many workers a sweep of `queued` runs gets from its runtime, and so how many runs train at
 * once: one per runtime.workers address, runtime.slurm.jobs batch jobs, else `parallel`
 * (default sweep.parallel, else 1), never more than there are runs.
 */
export function sweepWorkerCount(exp: ResolvedExperiment, rt: RuntimeConfig, queued: number, parallel?: number): number {
  if (rt.kind === "remote" && rt.workers?.length) return rt.workers.length;
  const count = Math.min(Math.max(1, parallel ?? exp.sweep?.parallel ?? 1), queued);
  return rt.kind === "slurm" ? rt.slurm?.jobs ?? count : count;
}

/** One run on one worker, to its end. A resume that the worker cannot serve starts over. */
async function runOne(exp: ResolvedExperiment, item: QueueItem, worker: RunningWorker, runsRoot: string, reconnectForMs: number, opts: SweepOptions): Promise<RunSummary> {
  const runDir = new RunDir(join(runsRoot, item.run.runId));
  const spec = specFor(item.run.experiment, item.run.runId, worker);
  const common = {
    worker, runDir, spec, experiment: exp.name, overrides: item.run.overrides,
    onEvent: (ev: EventRecord) => opts.onEvent?.(item.run, ev), signal: opts.signal, killSignal: opts.killSignal,
    reconnectForMs,
  };
  let summary: RunSummary;
  try {
    summary = await executeRun({ ...common, resume: item.resume });
  } catch (err) {
    // A worker that never saw this run (another machine, another run root) cannot resume it:
    // start over there, dropping the events stored for the lost attempt.
    if (!(item.resume && err instanceof NotFoundError)) throw err;
    runDir.truncateAfter(0);
    summary = await executeRun({ ...common, resume: false });
  }
  writeEvalFromEvents(runDir);
  return summary;
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
  opts: Pick<SweepOptions, "reconnectForMs" | "onRunStart" | "onWorkerLost" | "signal"> & { supply?: WorkerSupply },
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
