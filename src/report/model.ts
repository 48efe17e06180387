// The report's in-memory model: what load.ts reads from run and sweep directories.
import type { EvalRecord, RunStateName } from "../runs/types.js";

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
  epochs: number;
  steps: number;
  finalLoss: number | null;
  /** Last kNN monitor value (fraction 0..1). */
  knnTop1: number | null;
  wallSeconds: number | null;
  error?: string;
  /** Step events (loss curve), possibly downsampled for long runs. */
  stepCurve: StepPoint[];
  epochCurve: EpochPoint[];
  /** eval.json, or the evaluation events of the run when eval.json is absent. */
  eval: EvalRecord | null;
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
}

export interface ReportData {
  generatedAt: string;
  runs: RunData[];
  sweeps: SweepData[];
  /** Things the reader should know (unreadable files, missing runs); never fatal. */
  warnings: string[];
}
