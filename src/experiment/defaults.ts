// The default experiment. The worker-side part (everything but eval, runtime and sweep) is
// identical to python_worker/projhead_worker/config.py `RunConfig()`; a unit test compares them
// field by field, so change both together.
import type { ResolvedExperiment } from "./schema.js";

export type DefaultExperiment = Omit<ResolvedExperiment, "name" | "sweep">;

export const DEFAULT_EXPERIMENT: DefaultExperiment = deepFreeze({
  seed: 0,
  data: { name: "shapes", root: "", trainLimit: 0, testLimit: 0, imageSize: 0, syntheticSize: 0 },
  model: {
    backbone: "convnet",
    cifarStem: true,
    width: 32,
    head: { hiddenDims: [512], outDim: 128, batchNorm: true, activation: "relu", lastBatchNorm: false },
  },
  method: {
    name: "joint",
    temperature: 0.5,
    bilevel: {
      // The head optimizer inherits optim (type, lr, momentum, nesterov, weight decay);
      // each head* value overrides one part.
      innerSteps: 1,
      headLr: 0, // 0 = optim.lr
      headOptimizer: "inherit", // = optim.name
      headWeightDecay: -1, // -1 = optim.weightDecay
      headResetEvery: 0, // 0 = warm start: keep the head across steps
      headInOuter: false,
      headMomentum: -1, // -1 = optim.momentum
    },
    directclrDim: 0, // 0 = round(360/2048 * feature dim)
  },
  optim: { name: "sgd", lr: 0.06, momentum: 0.9, nesterov: false, weightDecay: 5e-4, warmupEpochs: 0, schedule: "cosine" },
  train: {
    epochs: 1,
    batchSize: 256,
    device: "auto",
    precision: "auto",
    compile: false,
    maxSteps: 0,
    logEverySteps: 10,
    knnEveryEpochs: 1,
    checkpointEveryEpochs: 1,
    checkpointEverySteps: 0,
    nproc: 1,
    nnodes: 1,
    evalAtEnd: false,
    threads: 0,
    layerEvalEveryEpochs: -1, // -1 = knnEveryEpochs, 0 = never
    layerEvalSubset: 0, // 0 = min(512, the smaller split)
  },
  augment: {
    cropMinScale: 0.2,
    jitterStrength: 1,
    jitterP: 0.8,
    grayscaleP: 0.2,
    blurP: -1, // < 0 = 0.5 for images of 96 px and more, else 0
    flipP: 0.5,
    minimal: false,
  },
  // Orchestrator-only: the worker's own evaluation defaults (probe capped at 1000 L-BFGS iterations, k = 200).
  eval: { probeEpochs: 1000, knnK: 200 },
  runtime: { kind: "local" },
});

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** A deep copy of plain data (objects, arrays, scalars). */
export function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(clone) as T;
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) as T;
  return v;
}

/**
 * `over` laid onto `base`: objects merge key by key, anything else (arrays included) replaces.
 * null and undefined mean "not given" and keep the base value (YAML `key:` with nothing after
 * it is null). Values of the wrong type pass through so that validation can name them.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined || over === null) return clone(base);
  if (!isPlainObject(base) || !isPlainObject(over)) return clone(over);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(base)) out[k] = deepMerge(base[k], over[k]);
  for (const k of Object.keys(over)) {
    if (!Object.hasOwn(base, k) && over[k] !== null && over[k] !== undefined) out[k] = clone(over[k]);
  }
  return out;
}
