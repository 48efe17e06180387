// Sweeps: expand the grid, run every run not finished yet over a pool of workers (one local
// worker by default), and record the sweep in sweeps/<name>/sweep.json. A worker that dies
// mid-run has its run resumed from the last checkpoint on the next free worker.
import { join, resolve } from "node:path";
import { expandSweep, type ResolvedExperiment, type SweepRun } from "../experiment/index.js";
import { executeRun } from "../orchestrator/execute.js";
import { obtainWorker, type RuntimeConfig } from "../runtime/index.js";
import type { RunningWorker } from "../runtime/types.js";
import { RunDir, writeJsonAtomic } from "../runs/store.js";
import type { EventRecord, RunSummary, SweepRecord } from "../runs/types.js";
import { NotFoundError, UnavailableError } from "../worker/errors.js";
import { localDataRoots, specFor } from "./run.js";

export interface SweepOptions {
  experimentFile?: string;
  runsRoot?: string;
  sweepsRoot?: string;
  /** Workers to use; default: obtain `parallel` workers from the experiment's runtime. */
  workers?: RunningWorker[];
  /** Runtime to obtain workers from (default: the experiment's). */
  runtime?: RuntimeConfig;
  /** Runs at once (default: sweep.parallel, else 1). */
  parallel?: number;
  onRunStart?: (run: SweepRun, worker: RunningWorker, resumed: boolean) => void;
  onEvent?: (run: SweepRun, ev: EventRecord) => void;
  onRunEnd?: (run: SweepRun, summary: RunSummary) => void;
  onSkip?: (run: SweepRun, summary: RunSummary) => void;
  onWorkerLost?: (worker: RunningWorker, err: Error) => void;
  cancelSignal?: AbortSignal;
  killSignal?: AbortSignal;
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
  const runsRoot = resolve(opts.runsRoot ?? "runs");
  const sweepDir = resolve(opts.sweepsRoot ?? "sweeps", exp.name);
  const record: SweepRecord = { name: exp.name, experimentFile: opts.experimentFile ?? "", runsRoot, runIds: runs.map((r) => r.runId), createdAt: new Date().toISOString() };
  writeJsonAtomic(join(sweepDir, "sweep.json"), record);

  const summaries = new Map<string, RunSummary>();
  const queue: { run: SweepRun; resume: boolean }[] = [];
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

  const parallel = Math.max(1, opts.parallel ?? exp.sweep?.parallel ?? 1);
  const owned: RunningWorker[] = [];
  let workers = opts.workers ?? [];
  if (!workers.length && queue.length) {
    const rt = (opts.runtime ?? exp.runtime) as RuntimeConfig;
    const addresses = rt.kind === "remote" && rt.workers?.length ? rt.workers : null;
    const count = addresses ? addresses.length : Math.min(parallel, queue.length);
    const dataRoots = [...new Set(runs.flatMap((r) => localDataRoots(r.experiment)))];
    for (let i = 0; i < count; i++) {
      const w = await obtainWorker(addresses ? { ...rt, address: addresses[i] } : rt, { runRoot: runsRoot, dataRoots });
      owned.push(w);
    }
    workers = owned;
  }

  try {
    await Promise.all(
      workers.map(async (worker) => {
        while (queue.length) {
          if (opts.cancelSignal?.aborted) return;
          const item = queue.shift()!;
          const runDir = new RunDir(join(runsRoot, item.run.runId));
          opts.onRunStart?.(item.run, worker, item.resume);
          try {
            const spec = specFor(item.run.experiment, item.run.runId, worker);
            let summary: RunSummary;
            try {
              summary = await executeRun({
                worker, runDir, spec, experiment: exp.name, overrides: item.run.overrides, resume: item.resume,
                onEvent: (ev) => opts.onEvent?.(item.run, ev), cancelSignal: opts.cancelSignal, killSignal: opts.killSignal,
                reconnectForMs: 10_000,
              });
            } catch (err) {
              // A worker that never saw this run (another machine) cannot resume it: start over.
              if (!(item.resume && err instanceof NotFoundError)) throw err;
              runDir.truncateAfter(0);
              summary = await executeRun({
                worker, runDir, spec, experiment: exp.name, overrides: item.run.overrides,
                onEvent: (ev) => opts.onEvent?.(item.run, ev), cancelSignal: opts.cancelSignal, killSignal: opts.killSignal,
              });
            }
            summaries.set(item.run.runId, summary);
            opts.onRunEnd?.(item.run, summary);
          } catch (err) {
            if (err instanceof UnavailableError && workers.length > 1) {
              // This worker is gone: hand its run to the others, resumed from its checkpoint.
              queue.unshift({ run: item.run, resume: true });
              opts.onWorkerLost?.(worker, err);
              return;
            }
            throw err;
          }
        }
      }),
    );
  } finally {
    await Promise.all(owned.map((w) => w.stop()));
  }
  if (queue.length && !opts.cancelSignal?.aborted) throw new Error(`sweep ${exp.name}: ${queue.length} runs left and no worker to run them`);
  return {
    sweepDir,
    runDirs: runs.map((r) => join(runsRoot, r.runId)),
    summaries: runs.map((r) => summaries.get(r.runId)).filter((s): s is RunSummary => Boolean(s)),
  };
}
