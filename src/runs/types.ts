// The on-disk shapes of a run directory, shared by the run store, the CLI and the reports.
// runs/<id>/spec.json       RunRecordSpec
// runs/<id>/events.jsonl    one EventRecord per line, seq 1, 2, 3, ... without gaps
// runs/<id>/summary.json    RunSummary (written when the run ends, atomically)
// runs/<id>/eval.json       EvalRecord (written by `projhead eval` or eval_at_end)
// sweeps/<name>/sweep.json  SweepRecord

import type { EvalProtocol, EventOf, EventRecord, EventType, LayerEval, RunSpecJson, StartedData } from "../client/types.js";

/** Events are typed from the contract (src/client/events.ts): a union discriminated by `type`. */
export type { EventOf, EventRecord, EventType, StartedData };
export type StepData = EventOf<"step">["data"];
export type EpochData = EventOf<"epoch">["data"];
export type LayerEvalRecord = LayerEval;

/** The probe fields older eval.json files lack (run folder format 1): optional here whatever the
 *  contract says, so that an absent probeConverged reads as unknown, never as converged. */
type NewerProbeFields = "probeConverged" | "probeIterations" | "probeL2" | "probeValTop1" | "linearValTop1" | "knnValTop1";

/** A layer evaluation as stored (eval.json, `evaluation` events), as the reader (reader.ts) gives it. */
export interface StoredLayerEval extends Omit<LayerEvalRecord, NewerProbeFields> {
  /** The linear probe reached its gradient-norm tolerance before the iteration cap. */
  probeConverged?: boolean;
  probeIterations?: number;
  /** The probe's L2 strength, chosen on the validation split. */
  probeL2?: number;
  /** Validation top-1 per value of the protocol's probeL2Grid. */
  probeValTop1?: number[];
  /** Validation top-1 at the chosen L2: the selection metric. */
  linearValTop1?: number;
  /** kNN on the validation split, the remaining training images as the bank. */
  knnValTop1?: number;
}
/** A `dynamics` event: every trained layer before the first step (epoch 0) and every N epochs. */
export type DynamicsData = EventOf<"dynamics">["data"];
export type LayerDynamicsData = DynamicsData["layers"][number];

/** Bilevel's head optimizer as the worker resolved it (the `started` event's headOptimizer). */
export interface HeadOptimizerRecord {
  name: string;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/** The probe protocol an evaluation used (eval.json formatVersion 2): the contract's, less the
 *  image counts and the rank definition, which eval.json keeps at its top level. */
export type EvalProtocolRecord = Omit<EvalProtocol, "trainImages" | "testImages" | "rankDefinition">;

export interface EvalRecord {
  /** 2 for files written with the validation-selected probe; absent = 1 (older files). */
  formatVersion?: number;
  runId: string;
  checkpoint: string;
  step: number;
  seconds: number;
  trainImages: number;
  testImages: number;
  layers: LayerEvalRecord[];
  /** Layers not evaluated because the method does not train them (no_head, directclr: the head). */
  untrainedLayers?: string[];
  /** The probe protocol used; absent in files whose probe had a fixed L2. */
  protocol?: EvalProtocolRecord;
  /** The floors, same splits and probe protocol: layer "pixels" (raw pixels, standardised) and
   *  "h@init" (the backbone at its random initialisation, same seed). */
  baselines?: LayerEvalRecord[];
  /** "rankme" where effectiveRank is RankMe; absent in older files (definition unknown). */
  rankDefinition?: "rankme";
}

/** The orchestrator's git commit when a run was created; dirty: the tree had uncommitted changes. */
export interface CodeRevisionRecord {
  commit: string;
  dirty: boolean;
}

/** interrupted: stopped by its worker's end or a signal, not by a client; resumable. */
export type RunStateName = "pending" | "running" | "finished" | "failed" | "cancelled" | "interrupted";

export interface RunSummary {
  runId: string;
  name: string;
  experiment: string;
  method: string;
  dataset: string;
  backbone: string;
  seed: number;
  state: RunStateName;
  epochs: number;
  steps: number;
  finalLoss: number | null;
  /** Last kNN top-1 monitor value (fraction 0..1), null when never computed. */
  knnTop1: number | null;
  /** kNN top-1 of the same backbone at random initialisation (the baseline), null when unknown. */
  initialKnnTop1: number | null;
  wallSeconds: number;
  /**
   * Equal-compute accounting of a finished run (null when it did not finish; absent in summaries
   * written before it existed): wall seconds in training steps (monitors, evaluation and
   * checkpoints excluded), source images the steps consumed, outer optimizer steps, and
   * bilevel's inner head steps (0 for the other methods).
   */
  trainSeconds?: number | null;
  imagesSeen?: number | null;
  optimizerSteps?: number | null;
  innerHeadSteps?: number | null;
  runDir: string;
  /** "cause: message" of a failed run; "interrupted (reason): message" of an interrupted one. */
  error?: string;
  /**
   * A failed run's cause: crash, out_of_memory, non_finite_loss, dataset, invalid_spec, io, internal.
   * An interrupted run's reason: worker_signal, worker_died, signal.
   */
  cause?: string;
  /** A failed or interrupted run's last good checkpoint, relative to the run directory ("" when none). */
  lastCheckpoint?: string;
  /** Sweep parameters that made this run differ from the base experiment (dotted path -> value). */
  overrides?: Record<string, unknown>;
}

export interface RunRecordSpec {
  /** The run folder's format (src/runs/reader.ts): RUN_FORMAT_VERSION when written by this code;
   *  absent in folders of format 1. */
  formatVersion?: number;
  runId: string;
  experiment: string;
  /** The full RunSpec sent to the worker, as proto3 JSON (camelCase, enums by name, zero
   *  values omitted): written with RunSpec.toJSON, read with RunSpec.fromJSON (src/client/spec.ts). */
  spec: RunSpecJson;
  overrides?: Record<string, unknown>;
  createdAt: string;
  /** Bilevel: the head optimizer the worker resolved from spec (added on the `started` event). */
  headOptimizer?: HeadOptimizerRecord;
  /** The folders on the client's machine the worker was given as data roots, in order (a
   *  container mounts them at /data/0, /data/1, ...: spec.data.root is then a path below one).
   *  Resume and eval give them again; absent for a remote worker, whose paths are its own. */
  dataRoots?: string[];
  /** The code the run was created with; absent in runs created before it was recorded. */
  codeRevision?: CodeRevisionRecord;
  /** TensorBoard and MLflow settings of the run (src/tracking), kept so a resume tracks it alike. */
  tracking?: TrackingRecord;
}

/** What spec.json keeps of a run's tracking, so that a resume tracks it the same way. */
export interface TrackingRecord {
  tensorboard: boolean;
  /** The run's hyperparameters as TensorBoard's HParams table shows them. */
  hparams: Record<string, HParamValue>;
  mlflow?: MlflowTarget;
}

/** A hyperparameter's value, as TensorBoard's HParams and MLflow's params take it. */
export type HParamValue = string | number | boolean;

/** Where a run logs to MLflow (src/tracking/mlflowRun.ts). */
export interface MlflowTarget {
  uri: string;
  experiment: string;
  /** Tags of the run (method, seed, sweep, dataset, backbone, code revision). */
  tags: Record<string, string>;
  /** A sweep's run: nested under the sweep's parent run (kept in <sweepDir>/mlflow.json). */
  sweep?: { name: string; dir: string };
}

export interface SweepRecord {
  name: string;
  experimentFile: string;
  runsRoot: string;
  runIds: string[];
  createdAt: string;
  /** The experiment's report.baseline: the method the report compares the others with. */
  baseline?: string;
}
