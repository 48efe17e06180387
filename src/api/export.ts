import { dirname, resolve } from "node:path";
import { RunDir } from "../runs/store.js";
import { writeFileAtomic } from "../fsutil/atomic.js";
import { withWorker, type WorkerChoice } from "./session.js";

export interface ExportOptions extends WorkerChoice {
  checkpoint?: string;
  signal?: AbortSignal;
}

/** Writes the run's backbone (head discarded) as a safetensors file, atomically. */
export async function exportBackbone(runDirPath: string, out: string, opts: ExportOptions = {}): Promise<{ path: string; bytes: number; architecture: string }> {
  const runDir = new RunDir(runDirPath);
  if (!runDir.exists()) throw new Error(`${runDir.specPath}: not found (is ${runDirPath} a run directory?)`);
  const choice: WorkerChoice = { ...opts, obtain: { runRoot: dirname(runDir.dir), ...opts.obtain } };
  return withWorker(choice, async (worker) => {
    const { data, architecture } = await worker.connection.exportBackbone(runDir.runId, opts.checkpoint ?? "", opts.signal);
    const path = resolve(out);
    writeFileAtomic(path, data);
    return { path, bytes: data.length, architecture };
  });
}
