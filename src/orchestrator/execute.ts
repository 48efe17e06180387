// Runs one run to its end on a worker and mirrors its events into the client's run directory.
// The run belongs to the worker: when the stream breaks (worker restart, network), this
// re-attaches from the last stored seq, so events.jsonl gets every event exactly once.
import type { RunningWorker } from "../runtime/types.js";
import { RunDir } from "../runs/store.js";
import type { EventRecord, RunSummary } from "../runs/types.js";
import { UnavailableError, WorkerError } from "../worker/errors.js";
import { RunState, type RunSpec } from "../worker/types.js";
import { summarize } from "./summary.js";

export interface ExecuteOptions {
  worker: RunningWorker;
  runDir: RunDir;
  spec: RunSpec;
  experiment: string;
  overrides?: Record<string, unknown>;
  /** Continue from the worker's last checkpoint of this run. */
  resume?: boolean;
  onEvent?: (ev: EventRecord) => void;
  /** Fires to cancel gracefully: the worker checkpoints, then the run ends as cancelled. */
  cancelSignal?: AbortSignal;
  /** Fires to stop at once: the training process is killed; the last checkpoint stays. */
  killSignal?: AbortSignal;
  /** How long to keep re-attaching while the worker is unreachable (default 60 s). */
  reconnectForMs?: number;
}

export class RunInterruptedError extends Error {}

export async function executeRun(opts: ExecuteOptions): Promise<RunSummary> {
  const { worker, runDir, spec } = opts;
  const conn = worker.connection;
  const started = await conn.startRun(spec, opts.resume ?? false);
  if (opts.resume) {
    runDir.truncateAfter(started.resumedFromSeq);
  }
  if (!runDir.exists()) {
    runDir.writeSpec({ runId: spec.runId, experiment: opts.experiment, spec: spec as unknown as Record<string, unknown>, overrides: opts.overrides, createdAt: new Date().toISOString() });
  }

  let cancelSent = false;
  const sendCancel = (graceful: boolean) => {
    conn.cancelRun(spec.runId, graceful).catch(() => undefined); // the stream reports the outcome
  };
  const onCancel = () => {
    if (!cancelSent) sendCancel(true);
    cancelSent = true;
  };
  const onKill = () => sendCancel(false);
  opts.cancelSignal?.addEventListener("abort", onCancel, { once: true });
  opts.killSignal?.addEventListener("abort", onKill, { once: true });
  if (opts.cancelSignal?.aborted) onCancel();

  const reconnectForMs = opts.reconnectForMs ?? 60_000;
  let unreachableSince: number | null = null;
  let terminal: EventRecord | null = null;
  try {
    while (!terminal) {
      try {
        for await (const ev of conn.watchRun(spec.runId, runDir.lastSeq(), opts.killSignal)) {
          unreachableSince = null;
          if (runDir.appendEvent(ev)) opts.onEvent?.(ev);
          if (ev.type === "finished" || ev.type === "failed" || ev.type === "cancelled") terminal = ev;
        }
        if (!terminal) {
          // The stream ended without a terminal event: the worker no longer runs this run.
          const status = (await conn.listRuns()).find((r) => r.runId === spec.runId);
          if (!status || (status.state !== RunState.RUN_STATE_RUNNING && status.state !== RunState.RUN_STATE_PENDING)) {
            throw new RunInterruptedError(`run ${spec.runId} stopped without a result on the worker (${status?.error || "unknown state"}); resume it with \`projhead resume ${runDir.dir}\``);
          }
        }
      } catch (err) {
        if (opts.killSignal?.aborted) throw err;
        if (!(err instanceof UnavailableError)) throw err;
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > reconnectForMs) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    opts.cancelSignal?.removeEventListener("abort", onCancel);
    opts.killSignal?.removeEventListener("abort", onKill);
  }
  const summary = summarize(runDir, opts.experiment, opts.overrides);
  runDir.writeSummary(summary);
  return summary;
}

export function isWorkerError(err: unknown): err is WorkerError {
  return err instanceof WorkerError;
}
