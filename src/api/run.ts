// Library entry points for training runs: run an experiment, resume a run.
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ExperimentError, type ResolvedExperiment } from "../experiment/index.js";
import { RUN_ID_EXPECTED, isRunId } from "../experiment/schema.js";
import { nodesIssue } from "../experiment/checks.js";
import { executeRun } from "../execution/execute.js";
import { RunDir } from "../runs/store.js";
import { evalRecord } from "./evalRecord.js";
import type { EventRecord, RunRecordSpec, RunSummary } from "../runs/types.js";
import { specFromJson, toRunSpec } from "../client/spec.js";
import type { RunSpec } from "../client/types.js";
import { withWorker, type WorkerChoice } from "./session.js";
import type { RunningWorker } from "../workers/types.js";
import { RunTracking } from "../tracking/index.js";
import { checkMlflow, trackingFor } from "../tracking/settings.js";

export interface RunOptions extends WorkerChoice {
  /** Directory of run directories (default ./runs). */
  runsRoot?: string;
  /** Run id (default `<name>-<UTC timestamp>`). */
  runId?: string;
  overrides?: Record<string, unknown>;
  /** Each new event of the run, in order (narrow on `ev.type`). */
  onEvent?: (ev: EventRecord) => void;
  /** Abort to cancel gracefully: the worker checkpoints, the run ends as "cancelled" and the
   *  returned summary says so (it can be resumed). */
  signal?: AbortSignal;
  /** Abort to stop at once (the last checkpoint stays); the promise rejects. */
  killSignal?: AbortSignal;
  /** MLflow tracking server URL (overrides tracking.mlflow.uri and MLFLOW_TRACKING_URI). */
  mlflow?: string;
}

export function timestampId(name: string, now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-");
  return `${name}-${t}`;
}

/** A local worker may read datasets below the experiment's data root. */
export function localDataRoots(exp: ResolvedExperiment): string[] {
  return exp.data.root ? [dirname(resolve(exp.data.root))] : [];
}

/** The spec for one run, with data.root made meaningful where the worker runs. */
export function specFor(exp: ResolvedExperiment, runId: string, worker: RunningWorker): RunSpec {
  const spec = toRunSpec(exp, runId);
  return { ...spec, data: spec.data && { ...spec.data, root: workerDataRoot(spec.data.root, worker) } };
}

function workerDataRoot(root: string, worker: RunningWorker): string {
  // Remote: a path on the worker's machine, sent as it is.
  if (!root || !worker.dataPath) return root;
  // A worker on this machine: relative to where projhead runs; a container: below /data/<i>.
  const p = worker.dataPath(root);
  if (!p) throw new Error(`data.root: ${root} is not inside a data folder mounted into the container`);
  return p;
}

/**
 * The data folders to give the worker that resumes or evaluates a stored run: those its first
 * worker had (spec.json `dataRoots`), so a container mounts them at the same /data/<i> as the
 * stored data.root names; for a run stored without them, the folder above data.root.
 */
export function storedDataRoots(stored: RunRecordSpec): string[] {
  if (stored.dataRoots) return [...stored.dataRoots];
  const root = specFromJson(stored.spec).data?.root;
  return root ? [dirname(root)] : [];
}

/** Throws the usage error for a run id the worker would refuse (path separators, "..", ...). */
export function checkRunId(runId: string): void {
  if (!isRunId(runId)) {
    throw new ExperimentError({ kind: "invalid", source: "run", issues: [{ path: "runId", value: runId, expected: RUN_ID_EXPECTED }] });
  }
}

/** The kind of worker a call will use: the one given, else the runtime's (default local). */
export function workerKind(choice: WorkerChoice): RunningWorker["kind"] {
  return choice.worker?.kind ?? choice.runtime?.kind ?? "local";
}

/**
 * The experiment against the runtime it goes to (known only now: a command-line flag may choose
 * it): a usage error naming the field, before a worker starts or a run directory is written.
 */
export function checkRuntimeFits(exp: ResolvedExperiment, choice: WorkerChoice): void {
  const expected = nodesIssue(exp.train.nnodes, workerKind(choice));
  if (expected) {
    throw new ExperimentError({ kind: "invalid", source: "experiment", issues: [{ path: "train.nnodes", value: exp.train.nnodes, expected }] });
  }
}

/**
 * A worker on this machine reads data.root from this file system: a root that is not there is a
 * usage error now, before a worker starts or a run directory is written.
 */
export function checkLocalDataRoot(exp: ResolvedExperiment, choice: WorkerChoice): void {
  if (!exp.data.root || workerKind(choice) !== "local") return;
  const abs = resolve(exp.data.root);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    // missing: reported below
  }
  if (!isDir) {
    throw new ExperimentError({
      kind: "invalid",
      source: "experiment",
      issues: [{ path: "data.root", value: exp.data.root, expected: `an existing directory with the ${exp.data.name} files (${abs} ${existsSync(abs) ? "is not a directory" : "does not exist"})` }],
    });
  }
}

export async function runExperiment(exp: ResolvedExperiment, opts: RunOptions = {}): Promise<RunSummary> {
  const runsRoot = resolve(opts.runsRoot ?? "runs");
  const runId = opts.runId ?? timestampId(exp.name);
  checkRunId(runId); // before any worker starts or anything is written
  checkRuntimeFits(exp, opts);
  checkLocalDataRoot(exp, opts);
  const record = trackingFor(exp, { mlflow: opts.mlflow });
  await checkMlflow(record, exp);
  const choice: WorkerChoice = { ...opts, obtain: { runRoot: runsRoot, dataRoots: localDataRoots(exp), ...opts.obtain } };
  return withWorker(choice, async (worker) => {
    const runDir = new RunDir(join(runsRoot, runId));
    return tracked(new RunTracking(runDir, record), async (tracking) => {
      const summary = await executeRun({
        worker, runDir, spec: specFor(exp, runId, worker), experiment: exp.name, overrides: opts.overrides,
        onEvent: opts.onEvent, signal: opts.signal, killSignal: opts.killSignal, tracking,
      });
      writeEvalFromEvents(runDir);
      return summary;
    });
  });
}

/** Runs `go` and finishes the run's tracking after it, also when it throws. */
export async function tracked<T>(tracking: RunTracking, go: (t: RunTracking) => Promise<T>): Promise<T> {
  try {
    return await go(tracking);
  } finally {
    await tracking.finish();
  }
}

/** Resumes a run from its last checkpoint (on the worker that holds it). */
export async function resumeRun(runDirPath: string, opts: Omit<RunOptions, "runId" | "runsRoot"> & { epochs?: number } = {}): Promise<RunSummary> {
  const runDir = new RunDir(runDirPath);
  if (!runDir.exists()) throw new Error(`${runDir.specPath}: not found (is ${runDirPath} a run directory?)`);
  const stored = runDir.readSpec();
  const spec = specFromJson(stored.spec);
  if (opts.epochs && spec.train) spec.train.epochs = opts.epochs;
  // Tracked as it was (a run stored before tracking existed: TensorBoard, as runs are now).
  const record = stored.tracking ?? { tensorboard: true, hparams: {} };
  const choice: WorkerChoice = { ...opts, obtain: { runRoot: dirname(runDir.dir), dataRoots: storedDataRoots(stored), ...opts.obtain } };
  return withWorker(choice, async (worker) =>
    tracked(new RunTracking(runDir, record), async (tracking) => {
      const summary = await executeRun({
        worker, runDir, spec, experiment: stored.experiment, overrides: stored.overrides, resume: true,
        onEvent: opts.onEvent, signal: opts.signal, killSignal: opts.killSignal, tracking,
      });
      writeEvalFromEvents(runDir);
      return summary;
    }));
}

/** eval_at_end streams `evaluation` events; keep them as eval.json like `projhead eval` does. */
export function writeEvalFromEvents(runDir: RunDir): void {
  const events = runDir.readEvents();
  const layers = events.filter((e) => e.type === "evaluation").map((e) => e.data);
  if (!layers.length) return;
  const finished = events.find((e) => e.type === "finished")?.data;
  runDir.writeEval(evalRecord({
    runId: runDir.runId,
    checkpoint: finished?.checkpoint ?? "",
    step: finished?.steps ?? 0,
    seconds: 0,
    layers,
    untrainedLayers: (finished?.untrainedLayers ?? []).map(String),
    baselines: finished?.baselines ?? [],
    protocol: finished?.evalProtocol,
  }));
}
