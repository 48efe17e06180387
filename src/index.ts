// projhead as a library for Node tooling: the same operations as the CLI, with typed results.
//
//   import { loadExperiment, runExperiment, watchRun } from "projhead";
//   const exp = await loadExperiment("examples/quickstart.yaml");
//   const summary = await runExperiment(exp, { onEvent: (ev) => console.log(ev.type), signal });
//   for await (const ev of watchRun(exp)) if (ev.type === "step") console.log(ev.data.loss);
export { doctor, type DoctorReport } from "./api/doctor.js";
export { runExperiment, resumeRun, timestampId, type RunOptions } from "./api/run.js";
export { watchRun, type RunWatch } from "./api/watch.js";
export { RunInterruptedError } from "./execution/execute.js";
export { runSweep, type SweepOptions, type SweepResult } from "./api/sweep.js";
export { evaluateRun, type EvaluateOptions } from "./api/evaluate.js";
export { exportBackbone, type ExportOptions } from "./api/export.js";
export { withWorker, type WorkerChoice } from "./api/session.js";
export {
  defineExperiment,
  resolveExperiment,
  loadExperiment,
  expandSweep,
  ExperimentError,
  DEFAULT_EXPERIMENT,
  type ExperimentIssue,
  type SweepRun,
} from "./experiment/index.js";
export type { ResolvedExperiment, ExperimentInput } from "./experiment/schema.js";
export { buildReport, type ReportResult } from "./report/index.js";
export { obtainWorker, startLocalWorker, connectRemoteWorker, WorkerStartError, type RuntimeConfig, type RunningWorker } from "./workers/index.js";
export { RunDir } from "./runs/store.js";
export type * from "./runs/types.js";
export * from "./client/errors.js";
export type { WorkerInfo, RunStatus } from "./client/types.js";
export { WorkerConnection, type CallDeadlines, type ConnectOptions, type WorkerApi } from "./client/client.js";
