// Multi-process training end to end: a real local worker starts the run under torchrun with
// train.nproc = 2 (gloo on the CPU). Only rank 0 reports, so the client sees every event once;
// a graceful cancel reaches every rank (torchrun starts each rank in its own session), rank 0
// checkpoints once and every process exits; the run then resumes under torchrun and finishes.
import assert from "node:assert/strict";
import { execaSync } from "execa";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { resumeRun, runExperiment } from "../../src/api/run.js";
import { resolveExperiment, type ExperimentInput } from "../../src/experiment/index.js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { RunDir } from "../../src/runs/store.js";
import type { EventRecord } from "../../src/runs/types.js";
import { RunState } from "../../src/client/types.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-multiproc-"));
const runsRoot = join(tmp, "runs");

const tiny = (name: string, epochs: number): ExperimentInput => ({
  name,
  seed: 0,
  data: { name: "shapes", trainLimit: 256, testLimit: 128, syntheticSize: 512 },
  model: { backbone: "convnet", width: 4, head: { hiddenDims: [32], outDim: 16 } },
  method: { name: "joint" },
  optim: { lr: 0.1 },
  train: {
    epochs, batchSize: 64, device: "cpu", precision: "fp32", threads: 1, nproc: 2,
    logEverySteps: 1, knnEveryEpochs: 1, checkpointEveryEpochs: 1,
  },
});

/** seq 1..n without gaps or repeats, one `started`, and no step reported twice. */
function assertClean(events: EventRecord[]): void {
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), "seq is gap-free from 1");
  const steps = events.filter((e) => e.type === "step").map((e) => Number(e.data.step));
  assert.equal(new Set(steps).size, steps.length, `no duplicate step events: ${steps.join(",")}`);
}

/** Training processes (torchrun and its ranks) still alive for this run directory. */
function trainingProcesses(runDir: string): string[] {
  const ps = execaSync("ps", ["-eo", "pid,args"]).stdout;
  return ps.split("\n").filter((l) => l.includes("projhead_worker.training.trainproc") && l.includes(runDir));
}

async function waitGone(runDir: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (trainingProcesses(runDir).length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(trainingProcesses(runDir), [], "every training process exited");
}

describe("train.nproc = 2 under torchrun (gloo, CPU)", { timeout: 300_000 }, () => {
  let w: RunningWorker;
  const stderr: string[] = [];
  before(async () => {
    w = await startLocalWorker({ runRoot: runsRoot, onStderr: (l) => stderr.push(l) });
  });
  after(async () => {
    await w?.stop();
    if (process.env.PROJHEAD_TEST_DEBUG) console.error(stderr.join("\n")); // the worker's log, torchrun included
    rmSync(tmp, { recursive: true, force: true });
  });

  it("trains to the end with events from rank 0 only and a checkpoint", async () => {
    const exp = resolveExperiment(tiny("mp-run", 2));
    const seen: EventRecord[] = [];
    const summary = await runExperiment(exp, { worker: w, runsRoot, runId: "mp-run", onEvent: (e) => seen.push(e) });
    assert.equal(summary.state, "finished", `${summary.error ?? ""}\n${stderr.slice(-20).join("\n")}`);
    const runDir = new RunDir(join(runsRoot, "mp-run"));
    const events = runDir.readEvents();
    assert.deepEqual(events.map((e) => e.seq), seen.map((e) => e.seq));
    assertClean(events);
    const started = events.filter((e) => e.type === "started");
    assert.equal(started.length, 1);
    assert.equal(started[0]!.data.worldSize, 2);
    // 256 images / global batch 64 = 4 steps an epoch, each reported once (not once per rank)
    assert.deepEqual(events.filter((e) => e.type === "step").map((e) => e.data.step), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(events.filter((e) => e.type === "epoch").length, 2);
    assert.ok(events.filter((e) => e.type === "epoch").every((e) => Number(e.data.knnTop1) >= 0), "kNN monitor ran on rank 0");
    assert.equal(events.at(-1)!.type, "finished");
    assert.ok(existsSync(join(runDir.dir, "checkpoints", "last.pt")), "checkpoint written");
    assert.ok(events.some((e) => e.type === "checkpoint" && e.data.reason === "final"));
    await waitGone(runDir.dir);
  });

  it("cancels gracefully on every rank (one checkpoint), then resumes under torchrun", async () => {
    const exp = resolveExperiment(tiny("mp-cancel", 50));
    const cancel = new AbortController();
    const summary = await runExperiment(exp, {
      worker: w, runsRoot, runId: "mp-cancel", signal: cancel.signal,
      onEvent: (e) => {
        if (e.type === "step" && Number(e.data.step) >= 3) cancel.abort();
      },
    });
    assert.equal(summary.state, "cancelled", `${summary.error ?? ""}\n${stderr.slice(-20).join("\n")}`);
    const runDir = new RunDir(join(runsRoot, "mp-cancel"));
    const events = runDir.readEvents();
    assertClean(events);
    const last = events.at(-1)!;
    assert.equal(last.type, "cancelled");
    const cancelCkpts = events.filter((e) => e.type === "checkpoint" && (e.data.reason === "cancel" || e.data.reason === "signal"));
    assert.equal(cancelCkpts.length, 1, "rank 0 alone writes the cancel checkpoint, once");
    assert.equal(events.at(-2)!.type, "checkpoint");
    const stoppedAt = Number(last.data.step);
    assert.ok(stoppedAt >= 3 && stoppedAt < 200, `stopped at step ${stoppedAt}`);
    await waitGone(runDir.dir);

    // Resume (fewer epochs: it ends soon) on the same worker, again with two ranks.
    const resumed = await resumeRun(runDir.dir, { worker: w, epochs: Math.ceil(stoppedAt / 4) + 1 });
    assert.equal(resumed.state, "finished", `${resumed.error ?? ""}\n${stderr.slice(-20).join("\n")}`);
    const all = runDir.readEvents();
    assertClean(all);
    const starts = all.filter((e) => e.type === "started");
    assert.equal(starts.length, 2);
    assert.equal(starts[1]!.data.resumed, true);
    assert.equal(starts[1]!.data.worldSize, 2);
    assert.equal(Number(starts[1]!.data.startStep), stoppedAt);
    const steps = all.filter((e) => e.type === "step").map((e) => Number(e.data.step));
    assert.deepEqual(steps, steps.map((_, i) => i + 1), "resumed steps continue where the cancel stopped");
    await waitGone(runDir.dir);
  });

  it("a hard stop (kill) ends torchrun and every rank, not just torchrun", async () => {
    const exp = resolveExperiment(tiny("mp-kill", 50));
    const kill = new AbortController();
    const runDir = new RunDir(join(runsRoot, "mp-kill"));
    let ranksSeen = 0;
    await assert.rejects(
      runExperiment(exp, {
        worker: w, runsRoot, runId: "mp-kill", killSignal: kill.signal,
        onEvent: (e) => {
          if (e.type === "step" && Number(e.data.step) === 2) {
            ranksSeen = trainingProcesses(runDir.dir).length;
            kill.abort();
          }
        },
      }),
    );
    assert.ok(ranksSeen >= 3, `torchrun and two ranks were running (${ranksSeen})`);
    await waitGone(runDir.dir, 10_000);
    // the worker names the end of the run: cancelled on request, after the last stored event
    const end = Date.now() + 10_000;
    let state: RunState | undefined;
    while (Date.now() < end) {
      state = (await w.connection.listRuns()).find((r) => r.runId === "mp-kill")?.state;
      if (state !== RunState.RUN_STATE_RUNNING) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, RunState.RUN_STATE_CANCELLED);
    // no rank outlived the kill to write after the worker's closing event
    const log = readFileSync(join(runDir.dir, "worker-events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { seq: number; type: string });
    assert.deepEqual(log.map((e) => e.seq), log.map((_, i) => i + 1));
    assert.equal(log.at(-1)!.type, "cancelled");
  });
});
