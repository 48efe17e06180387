import { dirname } from "node:path";
import { RunDir } from "../runs/store.js";
import type { EvalRecord, LayerEvalRecord } from "../runs/types.js";
import { withWorker, type WorkerChoice } from "./session.js";

export interface EvaluateOptions extends WorkerChoice {
  checkpoint?: string;
  layers?: string[];
  probeEpochs?: number;
  knnK?: number;
  device?: string;
  onLayer?: (layer: LayerEvalRecord) => void;
  onLog?: (message: string) => void;
  signal?: AbortSignal;
}

/** Layer-wise evaluation of a run's checkpoint; writes and returns runs/<id>/eval.json. */
export async function evaluateRun(runDirPath: string, opts: EvaluateOptions = {}): Promise<EvalRecord> {
  const runDir = new RunDir(runDirPath);
  if (!runDir.exists()) throw new Error(`${runDir.specPath}: not found (is ${runDirPath} a run directory?)`);
  const spec = runDir.readSpec().spec as { data?: { root?: string } };
  const choice: WorkerChoice = { ...opts, obtain: { runRoot: dirname(runDir.dir), dataRoots: spec.data?.root ? [dirname(spec.data.root)] : [], ...opts.obtain } };
  return withWorker(choice, async (worker) => {
    for await (const u of worker.connection.evaluate(
      { runId: runDir.runId, checkpoint: opts.checkpoint ?? "", layers: opts.layers ?? [], probeEpochs: opts.probeEpochs ?? 0, knnK: opts.knnK ?? 0, device: opts.device ?? "" },
      opts.signal,
    )) {
      if (u.type === "log") opts.onLog?.(u.message);
      else if (u.type === "layer") opts.onLayer?.(u.layer);
      else {
        const record: EvalRecord = { runId: runDir.runId, checkpoint: u.checkpoint, step: u.step, seconds: u.seconds, trainImages: u.trainImages, testImages: u.testImages, layers: u.layers };
        runDir.writeEval(record);
        return record;
      }
    }
    throw new Error(`evaluation of ${runDir.runId} ended without a result`);
  });
}
