import type { z } from "zod";
import type { RuntimeSchema, TlsSchema } from "../experiment/schema.js";
import type { WorkerApi } from "../client/client.js";

/** An experiment's `runtime` section (or what CLI flags ask for), as its schema defines it. */
export type RuntimeConfig = z.infer<typeof RuntimeSchema>;

/** Client TLS as files (runtime.tls, the --tls-* flags): read into TlsOptions to connect. */
export type TlsFiles = z.infer<typeof TlsSchema>;

/** A worker this process can talk to, however it was obtained (local, docker, remote). */
export interface RunningWorker {
  kind: "local" | "docker" | "remote" | "slurm";
  address: string;
  pid?: number;
  connection: WorkerApi;
  /** The folders on this machine the worker may read datasets from (absolute, in the order a
   *  container mounts them at /data/0, /data/1, ...); absent where the worker's paths are its own
   *  machine's (remote). Stored with each run so that resume and eval give the same ones again. */
  dataRoots?: readonly string[];
  /** Where the worker sees `path`, a path on this machine (a relative one from the working
   *  directory): the absolute path for a worker here, the mounted path in a container; undefined
   *  when the worker cannot see it. Absent where paths are the worker machine's own (remote). */
  dataPath?(path: string): string | undefined;
  /** The worker's last stderr lines (empty for remote workers). */
  stderrTail(): string[];
  /** False once a worker this runtime started has exited (absent where it cannot be known):
   *  callers stop waiting for an unreachable worker that will not come back. */
  alive?(): boolean;
  /** Stops what this runtime started (a remote worker is only disconnected). */
  stop(): Promise<void>;
}

/** The worker could not be started; `stderr` holds its own last error lines. */
export class WorkerStartError extends Error {
  readonly stderr: string[];
  constructor(reason: string, stderr: string[]) {
    const tail = stderr.filter((l) => l.trim()).slice(-15);
    super(tail.length ? `${reason}\nworker stderr:\n  ${tail.join("\n  ")}` : reason);
    this.name = "WorkerStartError";
    this.stderr = stderr;
  }
}
