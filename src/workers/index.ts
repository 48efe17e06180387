// How a worker is obtained, from the experiment's `runtime` section (or CLI flags).
import { connectRemoteWorker } from "./remote.js";
import { startLocalWorker, type LocalWorkerOptions } from "./local.js";
import type { JobStateChange } from "./slurm.js";
import { tokenFromEnv } from "./token.js";
import type { RunningWorker, RuntimeConfig } from "./types.js";

export interface ObtainOptions {
  runRoot?: string;
  dataRoots?: string[];
  signal?: AbortSignal;
  onStderr?: (line: string) => void;
  maxRuns?: number;
  /** Batch job state changes (slurm runtime), for progress output. */
  onJobState?: (change: JobStateChange) => void;
}

/** runtime.token, else the variable runtime.tokenEnv names (which must be set), else $PROJHEAD_TOKEN. */
export function resolveToken(rt: RuntimeConfig): string | undefined {
  return rt.token || tokenFromEnv(rt.tokenEnv, "runtime.tokenEnv")?.token;
}

export async function obtainWorker(rt: RuntimeConfig, opts: ObtainOptions = {}): Promise<RunningWorker> {
  switch (rt.kind) {
    case "local": {
      const local: LocalWorkerOptions = { python: rt.python, runRoot: opts.runRoot, dataRoots: opts.dataRoots, signal: opts.signal, onStderr: opts.onStderr, maxRuns: opts.maxRuns };
      return startLocalWorker(local);
    }
    case "remote": {
      if (!rt.address) throw new Error("runtime.address: required for a remote worker (host:port)");
      return connectRemoteWorker({ address: rt.address, token: resolveToken(rt), tls: rt.tls, signal: opts.signal });
    }
    case "docker": {
      const { startDockerWorker } = await import("./docker.js");
      return startDockerWorker({ image: rt.image, gpus: rt.gpus, token: resolveToken(rt), runRoot: opts.runRoot, dataRoots: opts.dataRoots, signal: opts.signal, onStderr: opts.onStderr, maxRuns: opts.maxRuns });
    }
    case "slurm": {
      // One worker job; stopping the worker cancels its job.
      const { startSlurmPool } = await import("./slurm.js");
      const { pool, workers } = await startSlurmPool(1, { settings: rt.slurm ?? {}, runRoot: opts.runRoot ?? "runs", dataRoots: opts.dataRoots, python: rt.python, clientTls: rt.tls, maxRuns: opts.maxRuns, signal: opts.signal, onJobState: opts.onJobState });
      try {
        const w = await workers[0]!;
        return { ...w, stop: async () => { await w.stop(); await pool.stop(); } };
      } catch (err) {
        await pool.stop();
        throw err;
      }
    }
  }
}

export { startLocalWorker, connectRemoteWorker };
export type { RunningWorker, RuntimeConfig };
export { WorkerStartError } from "./types.js";
