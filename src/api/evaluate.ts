import { dirname } from "node:path";
import { ExperimentError } from "../experiment/errors.js";
import { RunDir } from "../runs/store.js";
import type { EvalRecord, LayerEvalRecord } from "../runs/types.js";
import type { ResolvedExperiment } from "../experiment/schema.js";
import { evalRecord } from "./evalRecord.js";

type EvalSettings = Omit<ResolvedExperiment["eval"], "layers">;
import { specFromJson } from "../client/spec.js";
import { storedDataRoots } from "./run.js";
import { withWorker, type WorkerChoice } from "./session.js";

export interface EvaluateOptions extends WorkerChoice {
  checkpoint?: string;
  layers?: string[];
  /** Probe and kNN settings (RunSpec.eval's fields); unset ones are the run's own. */
  eval?: Partial<EvalSettings>;
  device?: string;
  onLayer?: (layer: LayerEvalRecord) => void;
  onLog?: (message: string) => void;
  signal?: AbortSignal;
}

/**
 * The layers the run's model has, in order ("h", "head.1" .. "head.N-1", "z"): from the spec the
 * worker resolved (the run's `started` event), else from spec.json; null when neither says.
 */
export function runLayers(runDir: RunDir): string[] | null {
  const started = runDir.readEvents().find((e) => e.type === "started");
  const hidden = started?.data.resolvedSpec?.model?.head?.hiddenDims ?? (runDir.exists() ? specFromJson(runDir.readSpec().spec).model?.head?.hiddenDims : undefined);
  return Array.isArray(hidden) ? ["h", ...hidden.map((_, i) => `head.${i + 1}`), "z"] : null;
}

/** Layers the model lacks are a usage error before any worker starts or data loads. */
function checkLayers(runDir: RunDir, layers: string[] | undefined): void {
  if (!layers?.length) return;
  const valid = runLayers(runDir);
  if (!valid) return; // the worker checks
  const unknown = layers.filter((l) => !valid.includes(l));
  if (unknown.length) {
    throw new ExperimentError({
      kind: "invalid",
      source: "--layers",
      issues: unknown.map((l) => ({ path: "layers", value: l, expected: `a layer of ${runDir.runId}'s model: ${valid.join(", ")}` })),
    });
  }
}

/** Layer-wise evaluation of a run's checkpoint; writes and returns runs/<id>/eval.json. */
export async function evaluateRun(runDirPath: string, opts: EvaluateOptions = {}): Promise<EvalRecord> {
  const runDir = new RunDir(runDirPath);
  if (!runDir.exists()) throw new Error(`${runDir.specPath}: not found (is ${runDirPath} a run directory?)`);
  checkLayers(runDir, opts.layers);
  // The worker evaluates with the data.root it stored: a container must mount the same folders.
  const choice: WorkerChoice = { ...opts, obtain: { runRoot: dirname(runDir.dir), dataRoots: storedDataRoots(runDir.readSpec()), ...opts.obtain } };
  return withWorker(choice, async (worker) => {
    for await (const u of worker.connection.evaluate(
      {
        runId: runDir.runId, checkpoint: opts.checkpoint ?? "", layers: opts.layers ?? [], device: opts.device ?? "",
        // Zero fields keep the run's own setting (the worker's rule for a partial eval).
        ...(opts.eval && { eval: { probeMaxIter: 0, knnK: 0, knnTemperature: 0, valFraction: 0, baselines: false, layers: "", ...opts.eval } }),
      },
      opts.signal,
    )) {
      if (u.type === "log") opts.onLog?.(u.message);
      else if (u.type === "layer") opts.onLayer?.(u.layer);
      else {
        const record = evalRecord({ runId: runDir.runId, ...u });
        runDir.writeEval(record);
        return record;
      }
    }
    throw new Error(`evaluation of ${runDir.runId} ended without a result`);
  });
}
