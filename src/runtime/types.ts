import type { WorkerApi } from "../worker/client.js";

/** A worker this process can talk to, however it was obtained (local, docker, remote). */
export interface RunningWorker {
  kind: "local" | "docker" | "remote" | "slurm";
  address: string;
  pid?: number;
  connection: WorkerApi;
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
