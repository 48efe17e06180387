// Obtains a worker for the duration of one library call and always releases it.
import { obtainWorker, type ObtainOptions, type RuntimeConfig } from "../workers/index.js";
import type { RunningWorker } from "../workers/types.js";

export interface WorkerChoice {
  /** Use this worker (not stopped afterwards). */
  worker?: RunningWorker;
  /** Or obtain one from this runtime (default: a local worker). */
  runtime?: RuntimeConfig;
  /** Passed to the runtime that starts a worker. */
  obtain?: ObtainOptions;
}

export async function withWorker<T>(choice: WorkerChoice, fn: (w: RunningWorker) => Promise<T>): Promise<T> {
  if (choice.worker) return fn(choice.worker);
  const w = await obtainWorker(choice.runtime ?? { kind: "local" }, choice.obtain);
  try {
    return await fn(w);
  } finally {
    await w.stop();
  }
}
