// Runs one run to its end on a worker and mirrors its events into the client's run directory.
// The run belongs to the worker: when the stream breaks (worker restart, network), this
// re-attaches from the last stored seq, so events.jsonl gets every event exactly once.
import type { RunningWorker } from "../workers/types.js";
import { RunDir } from "../runs/store.js";
import type { EventRecord, HeadOptimizerRecord, RunSummary } from "../runs/types.js";
import { UnavailableError } from "../client/errors.js";
import { isRetryable, Outage } from "../client/retry.js";
import { RunState, type RunSpec, type StartRunResponse } from "../client/types.js";
import { specToJson } from "../client/spec.js";
import { summarize } from "./summary.js";
import { codeRevision } from "./revision.js";
import type { RunTracking } from "../tracking/index.js";

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
  signal?: AbortSignal;
  /** Fires to stop at once: the training process is killed; the last checkpoint stays. */
  killSignal?: AbortSignal;
  /** How long to keep re-attaching while the worker is unreachable. @default 60_000 (DEFAULT_RETRY.forMs) */
  reconnectForMs?: number;
  /** TensorBoard / MLflow of this run: attached once events.jsonl is settled, fed every new
   *  event; the caller finishes it once the run's files are written. */
  tracking?: RunTracking;
}

export class RunInterruptedError extends Error {}

const TERMINAL = new Set(["finished", "failed", "cancelled", "interrupted"]);

export async function executeRun(opts: ExecuteOptions): Promise<RunSummary> {
  const { worker, runDir, spec } = opts;
  const conn = worker.connection;
  const outage = new Outage({ forMs: opts.reconnectForMs });
  // Decides whether a failed call is worth another try (the worker is only unreachable for now)
  // and waits before it; rethrows otherwise.
  const beforeRetry = async (err: unknown): Promise<void> => {
    if (opts.killSignal?.aborted || !isRetryable(err)) throw err;
    if (worker.alive && !worker.alive()) {
      const tail = worker.stderrTail().filter((l) => l.trim()).slice(-10);
      throw new UnavailableError("UNAVAILABLE", `the worker at ${worker.address} exited while run ${spec.runId} was in progress; resume it with \`projhead resume ${runDir.dir}\`${tail.length ? `\nworker stderr:\n  ${tail.join("\n  ")}` : ""}`);
    }
    await outage.next(err);
  };

  // StartRun is idempotent on the run id, so a start whose answer was lost is simply sent again.
  let started: StartRunResponse;
  for (;;) {
    try {
      started = await conn.startRun(spec, opts.resume ?? false);
      break;
    } catch (err) {
      await beforeRetry(err);
    }
  }
  outage.reset();
  // Events after the checkpoint the run resumed from are replayed by the worker: drop ours. (A
  // resume that found the run already going says where that incarnation continued, or 0 when
  // it is not a resumed one: then what we hold is still valid.)
  if (opts.resume && (started.created || started.resumedFromSeq > 0)) {
    runDir.truncateAfter(started.resumedFromSeq);
  }
  if (!runDir.exists()) {
    const revision = codeRevision();
    runDir.writeSpec({
      runId: spec.runId, experiment: opts.experiment, spec: specToJson(spec), overrides: opts.overrides, createdAt: new Date().toISOString(),
      ...(worker.dataRoots ? { dataRoots: [...worker.dataRoots] } : {}),
      ...(revision && { codeRevision: revision }),
      ...(opts.tracking ? { tracking: opts.tracking.record } : {}),
    });
  }
  opts.tracking?.attach();

  let cancelSent = false;
  let killSent: Promise<unknown> | null = null;
  const onCancel = () => {
    if (!cancelSent) conn.cancelRun(spec.runId, true).catch(() => undefined); // the stream reports the outcome
    cancelSent = true;
  };
  const onKill = () => {
    killSent = conn.cancelRun(spec.runId, false).catch(() => undefined);
  };
  opts.signal?.addEventListener("abort", onCancel, { once: true });
  opts.killSignal?.addEventListener("abort", onKill, { once: true });
  if (opts.signal?.aborted) onCancel();
  if (opts.killSignal?.aborted) onKill();

  let terminal: EventRecord | null = null;
  try {
    while (!terminal) {
      try {
        for await (const ev of conn.watchRun(spec.runId, runDir.lastSeq(), opts.killSignal)) {
          outage.reset();
          if (runDir.appendEvent(ev)) {
            recordResolvedSettings(runDir, ev);
            opts.tracking?.event(ev);
            opts.onEvent?.(ev);
          }
          if (TERMINAL.has(ev.type)) terminal = ev;
        }
        if (!terminal) {
          // Nothing after what we hold: when that ends with the terminal event, we have it all.
          const stored = runDir.readEvents();
          const last = stored[stored.length - 1];
          if (last && TERMINAL.has(last.type)) {
            terminal = last;
            break;
          }
          // The stream ended without a terminal event: the worker no longer runs this run.
          const status = (await conn.listRuns()).find((r) => r.runId === spec.runId);
          if (!status || (status.state !== RunState.RUN_STATE_RUNNING && status.state !== RunState.RUN_STATE_PENDING)) {
            throw new RunInterruptedError(`run ${spec.runId} stopped without a result on the worker (${status?.error || "unknown state"}); resume it with \`projhead resume ${runDir.dir}\``);
          }
        }
      } catch (err) {
        if (opts.killSignal?.aborted) {
          // Stop at once, but make sure the worker heard it (within a few seconds) before we go.
          await Promise.race([killSent, new Promise((r) => setTimeout(r, 5_000))]);
          throw err;
        }
        await beforeRetry(err);
      }
    }
  } finally {
    opts.signal?.removeEventListener("abort", onCancel);
    opts.killSignal?.removeEventListener("abort", onKill);
  }
  const summary = summarize(runDir, opts.experiment, opts.overrides);
  runDir.writeSummary(summary);
  return summary;
}

/** spec.json gets what only the worker resolves (bilevel's head optimizer) from `started`. */
function recordResolvedSettings(runDir: RunDir, ev: EventRecord): void {
  const headOptimizer = ev.type === "started" ? (ev.data.headOptimizer as HeadOptimizerRecord | undefined) : undefined;
  if (headOptimizer) runDir.writeSpec({ ...runDir.readSpec(), headOptimizer });
}
