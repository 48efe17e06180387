// A run's summary.json, derived from its stored events and spec (never from memory), so that a
// re-attached or resumed run gets the same summary as one watched from start to end.
import type { RunDir } from "../runs/store.js";
import { specFromJson } from "../client/spec.js";
import type { RunStateName, RunSummary } from "../runs/types.js";

export function summarize(runDir: RunDir, experiment: string, overrides?: Record<string, unknown>): RunSummary {
  const events = runDir.readEvents();
  const spec = specFromJson(runDir.exists() ? runDir.readSpec().spec : {});
  let state: RunStateName = "running";
  let finalLoss: number | null = null;
  let knnTop1: number | null = null;
  let initialKnnTop1: number | null = null;
  let steps = 0;
  let epochs = 0;
  let error: string | undefined;
  let cause: string | undefined;
  let lastCheckpoint: string | undefined;
  let wallSeconds = 0;
  let accounting: Required<Pick<RunSummary, "trainSeconds" | "imagesSeen" | "optimizerSteps" | "innerHeadSteps">> = {
    trainSeconds: null, imagesSeen: null, optimizerSteps: null, innerHeadSteps: null,
  };
  for (const ev of events) {
    if (ev.type === "started") {
      const init = ev.data.initialKnnTop1 ?? -1; // absent in runs stored before it existed
      if (init >= 0) initialKnnTop1 = init;
    } else if (ev.type === "step") {
      finalLoss = ev.data.loss;
      steps = ev.data.step;
    } else if (ev.type === "epoch") {
      epochs = ev.data.epoch;
      if (ev.data.knnTop1 >= 0) knnTop1 = ev.data.knnTop1;
    } else if (ev.type === "finished") {
      state = "finished";
      const d = ev.data;
      steps = d.steps;
      epochs = d.epochs;
      if (Number.isFinite(d.finalLoss)) finalLoss = d.finalLoss;
      if (d.knnTop1 >= 0) knnTop1 = d.knnTop1;
      wallSeconds = d.wallSeconds;
      const a = ev.data as { trainSeconds?: number; imagesSeen?: number; optimizerSteps?: number; innerHeadSteps?: number };
      accounting = { trainSeconds: a.trainSeconds ?? null, imagesSeen: a.imagesSeen ?? null, optimizerSteps: a.optimizerSteps ?? null, innerHeadSteps: a.innerHeadSteps ?? null };
    } else if (ev.type === "failed") {
      state = "failed";
      const d = ev.data;
      error = `${d.cause}: ${d.message}`;
      cause = d.cause;
      lastCheckpoint = d.lastCheckpoint ?? "";
    } else if (ev.type === "cancelled") {
      state = "cancelled";
    } else if (ev.type === "interrupted") {
      state = "interrupted";
      const d = ev.data;
      error = `interrupted (${d.reason}): ${d.message}`;
      cause = d.reason;
      lastCheckpoint = d.checkpoint ?? "";
    }
  }
  // e.g. failed or interrupted, then resumed and finished
  if (state !== "failed" && state !== "interrupted") error = cause = lastCheckpoint = undefined;
  if (!wallSeconds && events.length > 1) wallSeconds = events[events.length - 1]!.time - events[0]!.time;
  return {
    runId: runDir.runId,
    name: spec.name || runDir.runId,
    experiment,
    method: spec.method?.name ?? "",
    dataset: spec.data?.name ?? "",
    backbone: spec.model?.backbone ?? "",
    seed: spec.seed,
    state,
    epochs,
    steps,
    finalLoss,
    knnTop1,
    initialKnnTop1,
    wallSeconds,
    ...accounting,
    runDir: runDir.dir,
    ...(error ? { error } : {}),
    ...(cause ? { cause, lastCheckpoint: lastCheckpoint ?? "" } : {}),
    ...(overrides && Object.keys(overrides).length ? { overrides } : {}),
  };
}
