// The experiment room: schema, defaults, files, sweeps and the RunSpec the worker receives.
export {
  ACTIVATIONS,
  BACKBONES,
  DATASETS,
  ExperimentSchema,
  HEAD_OPTIMIZERS,
  METHODS,
  OPTIMIZERS,
  PRECISIONS,
  RUN_ID_RE,
  RUNTIME_KINDS,
  SCHEDULES,
  isRunId,
  leafPaths,
  type ExperimentInput,
  type MethodName,
  type PrecisionName,
  type ResolvedExperiment,
} from "./schema.js";
export { DEFAULT_EXPERIMENT, deepMerge, type DefaultExperiment } from "./defaults.js";
export { ExperimentError, formatIssue, type ExperimentErrorKind, type ExperimentIssue } from "./errors.js";
export { defineExperiment, resolveExperiment, type ResolveOptions } from "./resolve.js";
export { loadExperiment, readExperimentFile } from "./load.js";
export { expandSweep, sweepRunId, type SweepRun } from "./sweep.js";
