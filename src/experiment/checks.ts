// The zod building blocks of the experiment schema (schema.ts and the generated runSpec.gen.ts).
// Every check carries its own message: the "expected ..." part of an ExperimentIssue.
import { z } from "zod";

export const int = (lo: number, hi: number, error = `an integer in [${lo}, ${hi}]`) =>
  z.number({ error }).int({ error }).min(lo, { error }).max(hi, { error });

export const num = (lo: number, hi: number, error = `a finite number in [${lo}, ${hi}]`) =>
  z.number({ error }).min(lo, { error }).max(hi, { error });

/** `value` (e.g. -1 = inherit) or what `base` allows. */
export const special = (value: number, base: z.ZodNumber, error: string) =>
  (base.isInt ? z.number({ error }).int({ error }) : z.number({ error })).refine((v) => v === value || base.safeParse(v).success, {
    error,
  });

/** A list of at most `maxItems` items, each checked by `item`. */
export const ints = (item: z.ZodNumber, maxItems: number, error: string) =>
  z.array(item, { error: "a list of integers" }).max(maxItems, { error });

export const bool = () => z.boolean({ error: "true or false" });
export const str = () => z.string({ error: "a string" });
/** A string the whole of which `re` matches (anchor it). */
export const text = (re: RegExp, error: string) => z.string({ error }).regex(re, { error });
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `one of ${values.join(", ")}` });
export const obj = <S extends z.ZodRawShape>(shape: S) => z.strictObject(shape, { error: "an object" });

/** What the rules across fields read of an experiment (a structural subset: no import of the schema). */
export interface CrossFieldInput {
  data: { name: string; syntheticSize: number; trainLimit: number; testLimit: number };
  model: { backbone: string; width: number };
  method: { name: string; directclrDim: number };
  train: { device: string; nproc: number; nnodes: number; batchSize: number; layerEvalSubset: number };
}

/** The backbone's feature dimension h (the worker's models/backbones.py; config.feature_dim). */
export const featureDim = (m: CrossFieldInput["model"]): number =>
  m.backbone === "resnet18" ? 512 : m.backbone === "resnet50" ? 2048 : 8 * m.width;

/**
 * The rules across fields a run would otherwise break only later, inside its training process:
 * the same rules, in the same order, as the worker's `RunConfig.validate()` (config.py) checks at
 * StartRun. Each issue is the field's path and what it allows. (Where the run goes is not the
 * file's alone, the command line may choose it: `nodesIssue` is checked once the runtime is known.)
 */
export function crossFieldIssues(e: CrossFieldInput): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  const { data, model, method, train } = e;
  // The dynamics subsets are drawn from each split: not more images than a split has.
  for (const [split, limit] of [["train", data.trainLimit], ["test", data.testLimit]] as const) {
    if (limit > 0 && train.layerEvalSubset > limit) {
      out.push({ path: ["train", "layerEvalSubset"], message: `at most the ${split} split's ${limit} images (data.${split}Limit)` });
      break;
    }
  }
  const feat = featureDim(model);
  if (method.name === "directclr" && method.directclrDim > feat) {
    const words = model.backbone === "convnet" ? `convnet of model.width ${model.width}` : model.backbone;
    out.push({ path: ["method", "directclrDim"], message: `at most the backbone's feature dimension ${feat} (${words})` });
  }
  if (train.device.startsWith("cuda:") && train.nproc > 1) {
    out.push({
      path: ["train", "device"],
      message: `auto or cuda with train.nproc ${train.nproc} (cuda:N is one GPU; each process gets its own)`,
    });
  }
  const world = train.nproc * train.nnodes;
  if (train.batchSize % world !== 0) {
    out.push({
      path: ["train", "batchSize"],
      message: `a multiple of train.nproc x train.nnodes = ${world} (every process takes an equal share)`,
    });
  }
  // An upper bound of the training images where the spec alone says it (shapes: 6000 unless syntheticSize).
  let images: number | undefined = data.name === "shapes" ? data.syntheticSize || 6000 : undefined;
  if (data.trainLimit > 0) images = images === undefined ? data.trainLimit : Math.min(images, data.trainLimit);
  if (images !== undefined && train.batchSize > images) {
    out.push({
      path: ["train", "batchSize"],
      message: `at most the ${images} training images (${data.trainLimit > 0 ? "data.trainLimit" : "data.syntheticSize"})`,
    });
  }
  return out;
}

/**
 * train.nnodes against the runtime the run goes to (the file's, or the one the command line
 * chose): a local or docker worker trains on its own machine, only the slurm runtime spans nodes
 * (a remote worker says so itself at StartRun). What train.nnodes allows there, or null.
 */
export function nodesIssue(nnodes: number, runtimeKind: string): string | null {
  if (nnodes > 1 && (runtimeKind === "local" || runtimeKind === "docker")) {
    return `1 with runtime.kind "${runtimeKind}" (several nodes need the slurm runtime)`;
  }
  return null;
}
