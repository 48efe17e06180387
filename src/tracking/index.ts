// Experiment tracking of a run, done by the orchestrator from the events it stores: TensorBoard
// event files in runs/<id>/tb (on unless train.tensorboard is false) and, opt-in, an MLflow run.
// executeRun calls attach() once the run's events.jsonl is what it will append to, event() for
// every event it appended, and the caller finish() when the run's files (summary, eval) are
// written. Nothing here may fail a run: problems become warnings.
import type { ResolvedExperiment } from "../experiment/index.js";
import type { RunDir } from "../runs/store.js";
import type { EventRecord, HParamValue, TrackingRecord } from "../runs/types.js";
import { MlflowRunLogger } from "./mlflowRun.js";
import { RunTensorBoard } from "./tensorboard.js";

/** What spec.json keeps of a run's tracking (its shape is the run store's, runs/types.ts). */
export type { TrackingRecord };

export type Warn = (message: string) => void;
export const stderrWarn: Warn = (m) => void process.stderr.write(`projhead: ${m}\n`);

/** The hyperparameters of a run: method and seed, and the values a sweep's grid gave it. */
export function runHParams(exp: ResolvedExperiment, overrides: Record<string, unknown> = {}): Record<string, HParamValue> {
  const out: Record<string, HParamValue> = { "method.name": exp.method.name, seed: exp.seed };
  for (const [k, v] of Object.entries(overrides)) {
    out[k] = typeof v === "number" || typeof v === "boolean" || typeof v === "string" ? v : JSON.stringify(v);
  }
  return out;
}

export class RunTracking {
  private tb: RunTensorBoard | null = null;
  private mlflow: MlflowRunLogger | null = null;

  constructor(private readonly runDir: RunDir, readonly record: TrackingRecord, private readonly warn: Warn = stderrWarn) {}

  /** The run's events.jsonl is final up to its last line (after a resume's cut): start from it. */
  attach(): void {
    this.guard("TensorBoard", () => {
      if (!this.record.tensorboard) return;
      this.tb ??= new RunTensorBoard(this.runDir, { hparams: this.record.hparams });
      this.tb.attach();
    });
    if (this.record.mlflow) {
      this.mlflow ??= new MlflowRunLogger(this.runDir, this.record.mlflow, this.warn);
      this.mlflow.attach();
    }
  }

  event(ev: EventRecord): void {
    this.guard("TensorBoard", () => this.tb?.event(ev));
    this.mlflow?.event(ev);
  }

  /** After the run's summary and eval.json are written (or the run stopped with an error).
   *  false: MLflow does not have all of it (a warning said what). */
  async finish(): Promise<boolean> {
    this.guard("TensorBoard", () => this.tb?.close());
    return (await this.mlflow?.finish()) ?? true;
  }

  private guard(what: string, f: () => void): void {
    try {
      f();
    } catch (err) {
      // e.g. a full disk: the run goes on, its events.jsonl is the record; TB stops for this run
      this.warn(`${what} event files of ${this.runDir.runId} could not be written (${(err as Error).message}); the run goes on without them`);
      this.tb = null;
    }
  }
}
