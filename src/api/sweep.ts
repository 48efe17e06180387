// Sweeps: expand the grid, run every run not finished yet over a pool of workers (one local
// worker by default, remote addresses, or SLURM batch jobs), and record the sweep in
// sweeps/<name>/sweep.json. Which run goes to which worker, and what happens when a worker is
// lost or a run is interrupted, is execution/schedule.ts's. A later sweep resumes every run not
// finished.
import { join, resolve } from "node:path";
import { expandSweep, type ResolvedExperiment, type SweepRun } from "../experiment/index.js";
import { executeRun } from "../execution/execute.js";
import { scheduleRuns, type QueueItem, type ScheduleOptions, type WorkerSupply } from "../execution/schedule.js";
import { obtainWorker, type RuntimeConfig } from "../workers/index.js";
import type { JobStateChange } from "../workers/slurm.js";
import type { RunningWorker } from "../workers/types.js";
import { RunDir } from "../runs/store.js";
import { writeJsonAtomic } from "../fsutil/atomic.js";
import type { EventRecord, RunSummary, SweepRecord } from "../runs/types.js";
import { NotFoundError } from "../client/errors.js";
import { checkLocalDataRoot, checkRuntimeFits, localDataRoots, specFor, tracked, writeEvalFromEvents } from "./run.js";
import { RunTracking, type TrackingRecord } from "../tracking/index.js";
import { checkMlflow, trackingFor } from "../tracking/settings.js";
import { sweepTensorBoard } from "../tracking/sweepTensorBoard.js";

/** The scheduler's options (reconnectForMs, onRunStart, onWorkerLost, signal) and the sweep's own. */
export interface SweepOptions extends Omit<ScheduleOptions, "supply"> {
  experimentFile?: string;
  runsRoot?: string;
  sweepsRoot?: string;
  /** Workers to use (not stopped afterwards); default: obtain them from the runtime. */
  workers?: RunningWorker[];
  /** Runtime to obtain workers from (default: the experiment's). */
  runtime?: RuntimeConfig;
  /** Runs at once (default: sweep.parallel, else 1). */
  parallel?: number;
  onEvent?: (run: SweepRun, ev: EventRecord) => void;
  onRunEnd?: (run: SweepRun, summary: RunSummary) => void;
  onSkip?: (run: SweepRun, summary: RunSummary) => void;
  /** Batch job state changes (slurm runtime). */
  onJobState?: (change: JobStateChange) => void;
  killSignal?: AbortSignal;
  /** MLflow tracking server URL (overrides tracking.mlflow.uri and MLFLOW_TRACKING_URI). */
  mlflow?: string;
}

export interface SweepResult {
  sweepDir: string;
  runDirs: string[];
  summaries: RunSummary[];
}

function isDone(runDir: RunDir, needsEval: boolean): RunSummary | null {
  const s = runDir.readSummary();
  if (!s || s.state !== "finished") return null;
  if (needsEval && !runDir.readEval()) return null;
  return s;
}

export async function runSweep(exp: ResolvedExperiment, opts: SweepOptions = {}): Promise<SweepResult> {
  const runs = expandSweep(exp);
  // before anything is written or started
  for (const r of runs) {
    const choice = { worker: opts.workers?.[0], runtime: opts.runtime ?? exp.runtime };
    checkRuntimeFits(r.experiment, choice);
    checkLocalDataRoot(r.experiment, choice);
  }
  const runsRoot = resolve(opts.runsRoot ?? "runs");
  const sweepDir = resolve(opts.sweepsRoot ?? "sweeps", exp.name);
  const tracking = new Map(runs.map((r) => [r.runId, trackingFor(r.experiment, { mlflow: opts.mlflow }, { name: exp.name, dir: sweepDir, overrides: r.overrides })]));
  if (runs.length) await checkMlflow(tracking.get(runs[0]!.runId)!, exp);
  const record: SweepRecord = { name: exp.name, experimentFile: opts.experimentFile ?? "", runsRoot, runIds: runs.map((r) => r.runId), createdAt: new Date().toISOString(), ...(exp.report?.baseline ? { baseline: exp.report.baseline } : {}) };
  writeJsonAtomic(join(sweepDir, "sweep.json"), record);
  sweepTensorBoard(exp, runs, runsRoot, sweepDir);

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
        const { startSlurmPool } = await import("../workers/slurm.js");
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
    await scheduleRuns(workers, queue, (item, worker, reconnectForMs) => runOne(exp, item, worker, runsRoot, reconnectForMs, opts, tracking.get(item.run.runId)!), { ...opts, supply }, (item, s) => {
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
async function runOne(exp: ResolvedExperiment, item: QueueItem, worker: RunningWorker, runsRoot: string, reconnectForMs: number, opts: SweepOptions, record: TrackingRecord): Promise<RunSummary> {
  const runDir = new RunDir(join(runsRoot, item.run.runId));
  const spec = specFor(item.run.experiment, item.run.runId, worker);
  return tracked(new RunTracking(runDir, record), async (tracking) => {
    const common = {
      worker, runDir, spec, experiment: exp.name, overrides: item.run.overrides,
      onEvent: (ev: EventRecord) => opts.onEvent?.(item.run, ev), signal: opts.signal, killSignal: opts.killSignal,
      reconnectForMs, tracking,
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
  });
}
