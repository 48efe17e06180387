// The experiment schema: the worker's part (projhead.v1.RunSpec in camelCase: seed, data, model,
// method, optim, train, augment) is generated from the field rules in worker.proto into
// runSpec.gen.ts, so its defaults, ranges and allowed values are the worker's by construction;
// the orchestrator-only sections (runtime, sweep, report, tracking) are written here.
import { z } from "zod";
import { bool, crossFieldIssues, int, obj, oneOf, str } from "./checks.js";
import { MethodSchema, ModelSchema, OptimSchema, RUN_ID_EXPECTED, RUN_ID_RE, RunSpecShape, TrainSchema } from "./runSpec.gen.js";

export { AugmentSchema, BilevelSchema, DataSchema, EvalSchema, HeadSchema, MethodSchema, ModelSchema, OptimSchema, TrainSchema } from "./runSpec.gen.js";

// The allowed values of the worker's fields that code outside the schema names.
export const METHODS = MethodSchema.shape.name.options;
export const BACKBONES = ModelSchema.shape.backbone.options;
export const DATASETS = RunSpecShape.data.shape.name.options;
export const OPTIMIZERS = OptimSchema.shape.name.options;
export const HEAD_OPTIMIZERS = MethodSchema.shape.bilevel.shape.headOptimizer.options; // inherit = optim.name
export const SCHEDULES = OptimSchema.shape.schedule.options;
export const ACTIVATIONS = ModelSchema.shape.head.shape.activation.options;
export const PRECISIONS = TrainSchema.shape.precision.options;
export const RUNTIME_KINDS = ["local", "docker", "remote", "slurm"] as const;

/** Run ids and experiment names: what the worker accepts as a run directory name (RunSpec.run_id's rule). */
export { RUN_ID_EXPECTED, RUN_ID_RE } from "./runSpec.gen.js";
export const isRunId = (s: string): boolean => RUN_ID_RE.test(s);

const addressExpected = "an address such as host:port";
const address = () => z.string({ error: addressExpected }).regex(/^\S+$/, { error: addressExpected });
const gpusExpected = 'a GPU count or a docker --gpus value such as "all" or "device=0,1"';

export const TlsSchema = obj({
  ca: str().optional(),
  cert: str().optional(),
  key: str().optional(),
  serverName: str().optional(),
});

// SLURM batch jobs as workers (src/workers/slurm.ts); strings in SLURM's own syntax.
const slurmTime = "a SLURM time limit such as 30, 1:30:00 or 2-00:00:00";
export const SlurmSchema = obj({
  partition: str().optional(),
  /** GPUs per node of each job (--gpus-per-node); none when 0 or unset. */
  gpusPerJob: int(0, 1024).optional(),
  /** CPUs of each job's task (--cpus-per-task). */
  cpus: int(1, 4096).optional(),
  /** Memory per node, SLURM syntax (--mem), e.g. "32G". */
  memory: z.string({ error: "a SLURM memory size such as 32G" }).regex(/^\d+[KMGT]?$/, { error: "a SLURM memory size such as 32G" }).optional(),
  /** Time limit, SLURM syntax (--time), e.g. "04:00:00" or "30" (minutes). */
  time: z.string({ error: slurmTime }).regex(/^(\d+-)?\d+(:\d+){0,2}$/, { error: slurmTime }).optional(),
  account: str().optional(),
  qos: str().optional(),
  /** More sbatch arguments, one per entry (e.g. "--constraint=a100"). */
  sbatchArgs: z.array(z.string().regex(/^--?[A-Za-z]/, { error: "an sbatch option such as --constraint=a100" }), { error: "a list of sbatch options" }).optional(),
  /** A folder every node sees at the same path (default ./.projhead-slurm). */
  shared: str().optional(),
  /** Worker jobs at once (default: the sweep's parallel runs). */
  jobs: int(1, 1024).optional(),
  /** Seconds before the time limit that the worker is told to checkpoint and stop (default 120). */
  signalBeforeS: int(1, 65535).optional(),
  /** Server TLS for the workers (paths on the shared file system); clients use runtime.tls. */
  tls: obj({ cert: str(), key: str(), clientCa: str().optional() }).optional(),
});

export const RuntimeSchema = obj({
  kind: oneOf(RUNTIME_KINDS),
  python: str().optional(),
  address: address().optional(),
  token: str().optional(),
  tokenEnv: z
    .string({ error: "an environment variable name" })
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "an environment variable name" })
    .optional(),
  tls: TlsSchema.optional(),
  image: str().optional(),
  gpus: z.union([int(0, 1024), z.string().min(1)], { error: gpusExpected }).optional(),
  workers: z.array(address(), { error: "a list of worker addresses" }).optional(),
  slurm: SlurmSchema.optional(),
}).superRefine((r, ctx) => {
  // A remote runtime has nothing to start, so it must be told where the worker is.
  if (r.kind === "remote" && !r.address && !(r.workers && r.workers.length > 0)) {
    ctx.addIssue({
      code: "custom",
      path: ["address"],
      message: `${addressExpected} (required when runtime.kind is "remote", unless runtime.workers is given)`,
    });
  }
});

export const SweepSchema = obj({
  // Dotted field path -> the values to try. Paths and values are checked in grid.ts.
  grid: z.record(z.string(), z.array(z.unknown()).min(1, { error: "a non-empty list of values" }), {
    error: "a map of field path -> list of values",
  }),
  parallel: int(1, 1024).optional(),
});

// How `projhead report` (and the report a sweep prints) reads the study.
export const ReportSchema = obj({
  // The method every other method is compared with, seed by seed.
  baseline: MethodSchema.shape.name.optional(),
});

// Experiment tracking (src/tracking): done by the orchestrator from the events it receives, so
// none of it goes to the worker. TensorBoard is train.tensorboard (on by default); MLflow is
// opt-in with tracking.mlflow.uri (or --mlflow, or MLFLOW_TRACKING_URI).
// A file: store has no server to talk to: projhead logs over MLflow's REST API only.
export const MLFLOW_URI_EXPECTED = "the http:// or https:// URL of an MLflow tracking server (for a file: store, serve it with `mlflow server --backend-store-uri file:DIR`)";
export const MLFLOW_EXPERIMENT_EXPECTED = "an MLflow experiment name: 1 to 500 characters, no leading or trailing spaces";
export const isMlflowUri = (s: string): boolean => /^https?:\/\/[^\s/?#]+(\/\S*)?$/i.test(s);
export const isMlflowExperimentName = (s: string): boolean => s.length > 0 && s.length <= 500 && s.trim() === s;
export const MlflowSchema = obj({
  uri: z.string({ error: MLFLOW_URI_EXPECTED }).refine(isMlflowUri, { error: MLFLOW_URI_EXPECTED }).optional(),
  /** MLflow experiment to log to (default: the experiment's name, which a sweep's runs share). */
  experiment: z.string({ error: MLFLOW_EXPERIMENT_EXPECTED }).refine(isMlflowExperimentName, { error: MLFLOW_EXPERIMENT_EXPECTED }).optional(),
});
export const TrackingSchema = obj({ mlflow: MlflowSchema.optional() });

export const ExperimentSchema = obj({
  name: z.string({ error: RUN_ID_EXPECTED }).refine(isRunId, { error: RUN_ID_EXPECTED }),
  ...RunSpecShape,
  /** The worker's train section plus the orchestrator's `tensorboard` (event files in runs/<id>/tb). */
  train: TrainSchema.extend({ tensorboard: bool() }),
  tracking: TrackingSchema.optional(),
  runtime: RuntimeSchema,
  sweep: SweepSchema.optional(),
  report: ReportSchema.optional(),
}).superRefine((e, ctx) => {
  // The rules across fields, the worker's own (checks.ts).
  for (const issue of crossFieldIssues(e)) ctx.addIssue({ code: "custom", ...issue });
});

/** A fully populated experiment: every field the worker needs has a value. */
export type ResolvedExperiment = z.infer<typeof ExperimentSchema>;
export type MethodName = (typeof METHODS)[number];
export type PrecisionName = (typeof PRECISIONS)[number];

type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** What a user writes: any subset of the resolved experiment, but always a name. */
export type ExperimentInput = DeepPartial<Omit<ResolvedExperiment, "name">> & { name: string };

// -- navigation, for error messages and sweep paths -------------------------------------------

function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  while (cur instanceof z.ZodOptional) cur = cur.unwrap() as z.ZodType;
  return cur;
}

/** The schema of the field at `path` (object keys only), or undefined when there is none. */
export function schemaAt(path: readonly (string | number)[]): z.ZodType | undefined {
  let cur: z.ZodType = ExperimentSchema;
  for (const seg of path) {
    const u = unwrap(cur);
    if (u instanceof z.ZodObject && typeof seg === "string" && Object.hasOwn(u.shape, seg)) {
      cur = u.shape[seg] as z.ZodType;
    } else if (u instanceof z.ZodArray && typeof seg === "number") {
      cur = u.element as z.ZodType;
    } else {
      return undefined;
    }
  }
  return unwrap(cur);
}

/** Field names of the object at `path`, in schema order. */
export function fieldsAt(path: readonly (string | number)[]): string[] {
  const s = schemaAt(path);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** Dotted paths of every non-object field, e.g. "method.bilevel.innerSteps". */
export function leafPaths(s: z.ZodType = ExperimentSchema, prefix = ""): string[] {
  const u = unwrap(s);
  if (!(u instanceof z.ZodObject)) return [prefix];
  return Object.entries(u.shape).flatMap(([k, v]) => leafPaths(v as z.ZodType, prefix ? `${prefix}.${k}` : k));
}
