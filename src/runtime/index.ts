// How a worker is obtained, from the experiment's `runtime` section (or CLI flags).
import { connectRemoteWorker } from "./remote.js";
import { startLocalWorker, type LocalWorkerOptions } from "./local.js";
import type { JobStateChange, SlurmSettings } from "./slurm.js";
import type { RunningWorker } from "./types.js";

export interface RuntimeConfig {
  kind: "local" | "docker" | "remote" | "slurm";
  python?: string;
  address?: string;
  token?: string;
  tokenEnv?: string;
  tls?: { ca?: string; cert?: string; key?: string; serverName?: string };
  image?: string;
  gpus?: number | string;
  workers?: string[];
  slurm?: SlurmSettings;
}

export interface ObtainOptions {
  runRoot?: string;
  dataRoots?: string[];
  signal?: AbortSignal;
  onStderr?: (line: string) => void;
  maxRuns?: number;
  /** Batch job state changes (slurm runtime), for progress output. */
  onJobState?: (change: JobStateChange) => void;
}

export function resolveToken(rt: RuntimeConfig): string | undefined {
  if (rt.token) return rt.token;
  if (rt.tokenEnv) {
    const v = process.env[rt.tokenEnv];
    if (!v) throw new Error(`runtime.tokenEnv: environment variable ${rt.tokenEnv} is not set`);
    return v;
  }
  return process.env.PROJHEAD_TOKEN || undefined;
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
export type { RunningWorker };
export { WorkerStartError } from "./types.js";
