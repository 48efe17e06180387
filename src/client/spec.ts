// ResolvedExperiment <-> projhead.v1.RunSpec. Every field is written explicitly (the worker
// treats zero values as "use the default", so nothing may be left to chance), and fromRunSpec
// reads a stored spec back (e.g. runs/<id>/spec.json) into experiment form.
import { Precision, RunSpec } from "../gen/projhead/v1/worker.js";
import { ExperimentError } from "../experiment/errors.js";
import { RUN_ID_EXPECTED, isRunId, type ExperimentInput, type PrecisionName, type ResolvedExperiment } from "../experiment/schema.js";

export const PRECISION_TO_PROTO: Readonly<Record<PrecisionName, Precision>> = {
  auto: Precision.PRECISION_UNSPECIFIED, // the worker picks: fp32 on CPU, bf16 on CUDA
  fp32: Precision.PRECISION_FP32,
  bf16: Precision.PRECISION_BF16,
};

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
  const { data: d, model: m, method: me, optim: o, train: t, augment: a } = e;
  const b = me.bilevel;
  const h = m.head;
  return {
    runId,
    name: e.name,
    seed: e.seed,
    data: {
      name: d.name,
      root: d.root,
      trainLimit: d.trainLimit,
      testLimit: d.testLimit,
      imageSize: d.imageSize,
      syntheticSize: d.syntheticSize,
    },
    model: {
      backbone: m.backbone,
      cifarStem: m.cifarStem,
      width: m.width,
      head: {
        hiddenDims: [...h.hiddenDims],
        outDim: h.outDim,
        batchNorm: h.batchNorm,
        activation: h.activation,
        lastBatchNorm: h.lastBatchNorm,
      },
    },
    method: {
      name: me.name,
      temperature: me.temperature,
      bilevel: {
        innerSteps: b.innerSteps,
        headLr: b.headLr,
        headOptimizer: b.headOptimizer,
        headWeightDecay: b.headWeightDecay,
        headResetEvery: b.headResetEvery,
        headInOuter: b.headInOuter,
        headMomentum: b.headMomentum,
      },
      directclrDim: me.directclrDim,
    },
    optim: {
      name: o.name,
      lr: o.lr,
      momentum: o.momentum,
      nesterov: o.nesterov,
      weightDecay: o.weightDecay,
      warmupEpochs: o.warmupEpochs,
      schedule: o.schedule,
    },
    train: {
      epochs: t.epochs,
      batchSize: t.batchSize,
      device: t.device,
      precision: PRECISION_TO_PROTO[t.precision],
      compile: t.compile,
      maxSteps: t.maxSteps,
      logEverySteps: t.logEverySteps,
      knnEveryEpochs: t.knnEveryEpochs,
      checkpointEveryEpochs: t.checkpointEveryEpochs,
      checkpointEverySteps: t.checkpointEverySteps,
      nproc: t.nproc,
      nnodes: t.nnodes,
      evalAtEnd: t.evalAtEnd,
      threads: t.threads,
      layerEvalEveryEpochs: t.layerEvalEveryEpochs,
      layerEvalSubset: t.layerEvalSubset,
    },
    augment: {
      cropMinScale: a.cropMinScale,
      jitterStrength: a.jitterStrength,
      jitterP: a.jitterP,
      grayscaleP: a.grayscaleP,
      blurP: a.blurP,
      flipP: a.flipP,
      minimal: a.minimal,
    },
  };
}

/**
 * The experiment fields a RunSpec carries (name, seed, data, model, method, optim, train,
 * augment). Sub-messages the spec lacks are left out, so resolveExperiment fills defaults.
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
    const { bilevel, ...rest } = spec.method;
    out.method = { ...rest, ...(bilevel ? { bilevel: { ...bilevel } } : {}) } as ExperimentInput["method"];
  }
  if (spec.optim) out.optim = { ...spec.optim } as ExperimentInput["optim"];
  if (spec.train) out.train = { ...spec.train, precision: precisionName(spec.train.precision) } as ExperimentInput["train"];
  if (spec.augment) out.augment = { ...spec.augment };
  return out;
}
