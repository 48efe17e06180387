// ResolvedExperiment <-> projhead.v1.RunSpec. The experiment's worker sections are generated
// from RunSpec (runSpec.gen.ts), field for field in camelCase, so they are copied whole: every
// field is sent (the worker treats zero values as "use the default", so nothing may be left to
// chance); only enums change form, label <-> wire value. fromRunSpec reads a stored spec back
// (e.g. runs/<id>/spec.json) into experiment form.
import { Precision, RunSpec } from "../gen/projhead/v1/worker.js";
import { ExperimentError } from "../experiment/errors.js";
import { PRECISION_VALUES } from "../experiment/runSpec.gen.js";
import { RUN_ID_EXPECTED, isRunId, type ExperimentInput, type PrecisionName, type ResolvedExperiment } from "../experiment/schema.js";

/** auto = PRECISION_UNSPECIFIED: the worker picks, fp32 on CPU and bf16 on CUDA. */
export const PRECISION_TO_PROTO: Readonly<Record<PrecisionName, Precision>> = PRECISION_VALUES;

export function precisionName(p: Precision): PrecisionName {
  const hit = (Object.keys(PRECISION_TO_PROTO) as PrecisionName[]).find((k) => PRECISION_TO_PROTO[k] === p);
  return hit ?? "auto";
}

/** A RunSpec as proto3 JSON: camelCase fields, enums by name, zero values left out. */
export type RunSpecJson = Record<string, unknown>;

/** runs/<id>/spec.json's `spec`, written with the generated proto3 JSON mapping. */
export function specToJson(spec: RunSpec): RunSpecJson {
  return RunSpec.toJSON(spec) as RunSpecJson;
}

/** Reads a stored spec back (enum names, or the numbers older spec.json files hold). */
export function specFromJson(json: unknown): RunSpec {
  return RunSpec.fromJSON(json);
}

/** The spec the worker receives for one run of `e` (runId defaults to the experiment name). */
export function toRunSpec(e: ResolvedExperiment, runId: string = e.name): RunSpec {
  if (!isRunId(runId)) {
    throw new ExperimentError({ kind: "invalid", source: "run", issues: [{ path: "runId", value: runId, expected: RUN_ID_EXPECTED }] });
  }
  const { seed, data, model, method, optim, augment } = e;
  const { tensorboard: _orchestratorOnly, ...train } = e.train; // tracking is the orchestrator's
  const evaluation = e.eval;
  // fromPartial copies the fields RunSpec has (the sections have exactly those) and deep-copies lists.
  return RunSpec.fromPartial({
    runId,
    name: e.name,
    seed,
    data,
    model,
    method,
    optim,
    train: { ...train, precision: PRECISION_TO_PROTO[train.precision] },
    augment,
    eval: evaluation,
  });
}

/**
 * The experiment fields a RunSpec carries (name, seed, data, model, method, optim, train,
 * augment, eval). Sub-messages the spec lacks are left out, so resolveExperiment fills defaults.
 * Values are taken as they are: pass the result through resolveExperiment to validate them.
 */
export function fromRunSpec(spec: RunSpec): ExperimentInput {
  const out: ExperimentInput = { name: spec.name || spec.runId, seed: spec.seed };
  if (spec.data) out.data = { ...spec.data } as ExperimentInput["data"];
  if (spec.model) {
    const { head, ...rest } = spec.model;
    out.model = { ...rest, ...(head ? { head: { ...head, hiddenDims: [...head.hiddenDims] } } : {}) } as ExperimentInput["model"];
  }
  if (spec.method) {
    const { bilevel, joint, ...rest } = spec.method;
    out.method = { ...rest, ...(bilevel ? { bilevel: { ...bilevel } } : {}), ...(joint ? { joint: { ...joint } } : {}) } as ExperimentInput["method"];
  }
  if (spec.optim) out.optim = { ...spec.optim } as ExperimentInput["optim"];
  if (spec.train) out.train = { ...spec.train, precision: precisionName(spec.train.precision) } as ExperimentInput["train"];
  if (spec.augment) out.augment = { ...spec.augment };
  if (spec.eval) out.eval = { ...spec.eval } as ExperimentInput["eval"];
  return out;
}
