// The report's in-memory model: what load.ts reads from run and sweep directories.
import type { CodeRevisionRecord, EvalRecord, RunStateName, StoredLayerEval } from "../runs/types.js";

/** A layer of eval.json as the report reads it: the stored shape (the probe fields are absent in
 *  runs of folder format 1). */
export type LayerEval = StoredLayerEval;

export interface RunEval extends Omit<EvalRecord, "layers" | "untrainedLayers" | "baselines"> {
  /** Trained layers only. */
  layers: LayerEval[];
  untrainedLayers: string[];
  /** "pixels" and "h@init" (empty in older files). */
  baselines: LayerEval[];
}

export interface StepPoint {
  step: number;
  loss: number;
}

export interface EpochPoint {
  epoch: number;
  step: number;
  loss: number;
  /** Fraction 0..1, null when the monitor did not run that epoch. */
  knnTop1: number | null;
}

/** One layer measured on the fixed layer-eval subset during training (a "dynamics" event). */
export interface DynamicsLayer {
  layer: string;
  index: number;
  dim: number;
  /** Fraction 0..1; null when not measured. */
  knnTop1: number | null;
  /** RankMe (Garrido et al. 2023). */
  effectiveRank: number | null;
  alignment: number | null;
  uniformity: number | null;
}

/** Every layer at one point of training; epoch 0 is before the first step. */
export interface DynamicsPoint {
  epoch: number;
  step: number;
  seconds: number;
  subsetSize: number;
  layers: DynamicsLayer[];
}

export interface RunData {
  runId: string;
  dir: string;
  name: string;
  experiment: string;
  method: string;
  dataset: string;
  backbone: string;
  seed: number | null;
  /** "unknown" when nothing on disk says (no summary, no events). */
  state: RunStateName | "unknown";
  /** Sweep parameters that made this run differ from the base experiment. */
  overrides: Record<string, unknown>;
  /**
   * The resolved spec of spec.json as dotted paths, without the seed and the run's own names
   * (runId, name, data.root) and without zero values (proto3 JSON omits them, so absent and
   * zero are one); null without spec.json.
   */
  settings: Record<string, unknown> | null;
  /** spec.json's codeRevision; null where the run did not record one. */
  codeRevision: CodeRevisionRecord | null;
  epochs: number;
  steps: number;
  finalLoss: number | null;
  /** Last kNN monitor value (fraction 0..1). */
  knnTop1: number | null;
  /** kNN monitor of the backbone at random initialisation, before the first step (0..1). */
  initialKnnTop1: number | null;
  wallSeconds: number | null;
  /** Equal-compute accounting (summary.json); null where the run did not record it. */
  trainSeconds: number | null;
  imagesSeen: number | null;
  optimizerSteps: number | null;
  /** Inner head steps of bilevel; 0 for the methods that have none. */
  innerHeadSteps: number | null;
  /** Layers the method does not train (head layers of no_head, directclr): never evaluated. */
  untrainedLayers: string[];
  error?: string;
  /** Step events (loss curve), possibly downsampled for long runs. */
  stepCurve: StepPoint[];
  epochCurve: EpochPoint[];
  /** Per-layer metrics over training, by epoch (trained layers only). */
  dynamics: DynamicsPoint[];
  /** eval.json, or the evaluation events of the run when eval.json is absent. */
  eval: RunEval | null;
  evalSource: "eval.json" | "events" | null;
}

export interface SweepData {
  name: string;
  dir: string;
  experimentFile: string;
  createdAt: string;
  runIds: string[];
  /** Run ids listed by sweep.json whose directory was not found (not started yet). */
  missingRunIds: string[];
  /** The experiment's report.baseline, when it named one. */
  baseline: string | null;
}

export interface ReportData {
  generatedAt: string;
  runs: RunData[];
  sweeps: SweepData[];
  /** Things the reader should know (unreadable files, missing runs); never fatal. */
  warnings: string[];
}
