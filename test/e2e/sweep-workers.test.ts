// Sweeps over several real workers (two local workers sharing one run root): runs are spread
// over both; a sweep run again skips its finished runs; and when a worker is killed (SIGKILL)
// mid-run, its run resumes from its last checkpoint on the other worker and the sweep completes
// with every run finished and every events.jsonl gap-free.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runSweep } from "../../src/api/sweep.js";
import { resolveExperiment, type ExperimentInput } from "../../src/experiment/index.js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { RunDir } from "../../src/runs/store.js";
import type { EventRecord } from "../../src/runs/types.js";
import { isAlive, waitFor } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-sweep-workers-"));
const runsRoot = join(tmp, "runs");
const sweepsRoot = join(tmp, "sweeps");

const tiny = (name: string, epochs: number, grid: Record<string, unknown[]>): ExperimentInput => ({
  name,
  seed: 0,
  data: { name: "shapes", trainLimit: 256, testLimit: 128, syntheticSize: 512 },
  model: { backbone: "convnet", width: 4, head: { hiddenDims: [32], outDim: 16 } },
  method: { name: "joint", bilevel: { innerSteps: 1 } },
  optim: { lr: 0.1 },
  train: {
    epochs, batchSize: 64, device: "cpu", precision: "fp32", threads: 1,
    logEverySteps: 1, knnEveryEpochs: 0, checkpointEveryEpochs: 1,
  },
  sweep: { grid },
});

/** seq 1..n, every step once and in order, ending with `finished`. */
function assertCompleteLog(runId: string, stepsPerRun: number): EventRecord[] {
  const events = new RunDir(join(runsRoot, runId)).readEvents();
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), `${runId}: seq gap-free from 1`);
  const steps = events.filter((e) => e.type === "step").map((e) => Number(e.data.step));
  assert.deepEqual(steps, Array.from({ length: stepsPerRun }, (_, i) => i + 1), `${runId}: every step exactly once`);
  assert.equal(events.at(-1)!.type, "finished", runId);
  return events;
}

describe("sweeps over two local workers", { timeout: 300_000 }, () => {
  let w1: RunningWorker;
  let w2: RunningWorker;
  const stderr: string[] = [];
  before(async () => {
    [w1, w2] = await Promise.all([
      startLocalWorker({ runRoot: runsRoot, onStderr: (l) => stderr.push(`[w1] ${l}`) }),
      startLocalWorker({ runRoot: runsRoot, onStderr: (l) => stderr.push(`[w2] ${l}`) }),
    ]);
  });
  after(async () => {
    await Promise.all([w1?.stop(), w2?.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("spreads the runs over both workers, and skips them when the sweep runs again", async () => {
    const exp = resolveExperiment(tiny("spread", 2, { "method.name": ["joint", "bilevel"], seed: [0, 1] }));
    const placed = new Map<string, string>();
    const res = await runSweep(exp, {
      workers: [w1, w2], runsRoot, sweepsRoot,
      onRunStart: (run, w) => placed.set(run.runId, w.address),
    });
    assert.equal(res.summaries.length, 4);
    for (const s of res.summaries) {
      assert.equal(s.state, "finished", `${s.runId}: ${s.error ?? ""}\n${stderr.slice(-15).join("\n")}`);
      assertCompleteLog(s.runId, 8); // 256 images / batch 64 = 4 steps an epoch, 2 epochs
    }
    assert.deepEqual(new Set(placed.values()), new Set([w1.address, w2.address]), "both workers trained runs");
    assert.deepEqual(new Set(res.summaries.map((s) => s.method)), new Set(["joint", "bilevel"]));

    const skipped: string[] = [];
    const started: string[] = [];
    const again = await runSweep(exp, {
      workers: [w1, w2], runsRoot, sweepsRoot,
      onSkip: (run) => skipped.push(run.runId), onRunStart: (run) => started.push(run.runId),
    });
    assert.deepEqual(skipped.sort(), [...placed.keys()].sort());
    assert.deepEqual(started, []);
    assert.equal(again.summaries.length, 4);
  });

  it("resumes a killed worker's run from its last checkpoint on the other worker", async () => {
    const exp = resolveExperiment(tiny("failover", 4, { seed: [0, 1] }));
    const placed = new Map<string, string>();
    const lost: string[] = [];
    let killedRun = "";
    let killedAfterStep = 0;
    const res = await runSweep(exp, {
      workers: [w1, w2], runsRoot, sweepsRoot,
      onRunStart: (run, w) => placed.set(run.runId, w.address),
      onEvent: (run, ev) => {
        // Kill w1 (the whole worker, SIGKILL) once its run has a checkpoint and went on a bit.
        if (killedRun || placed.get(run.runId) !== w1.address) return;
        if (ev.type === "step" && Number(ev.data.step) === 6) {
          killedRun = run.runId;
          killedAfterStep = 6;
          process.kill(w1.pid!, "SIGKILL");
        }
      },
      onWorkerLost: (w) => lost.push(w.address),
    });
    assert.ok(killedRun, "w1 got a run and was killed during it");
    assert.deepEqual(lost, [w1.address]);
    await waitFor(() => !isAlive(w1.pid!), 10_000, "w1 to be gone");
    assert.equal(placed.get(killedRun), w2.address, "the killed run moved to w2");
    assert.equal(res.summaries.length, 2);
    for (const s of res.summaries) {
      assert.equal(s.state, "finished", `${s.runId}: ${s.error ?? ""}\n${stderr.slice(-20).join("\n")}`);
      assertCompleteLog(s.runId, 16);
    }
    const events = assertCompleteLog(killedRun, 16);
    const starts = events.filter((e) => e.type === "started");
    assert.equal(starts.length, 2, "started once on w1, once (resumed) on w2");
    assert.equal(starts[1]!.data.resumed, true);
    const from = Number(starts[1]!.data.startStep);
    assert.ok(from >= 4 && from <= 16, `resumed from a checkpoint at step ${from} (killed after step ${killedAfterStep})`);
    // what the resumed run continued from is a checkpoint the log keeps
    // (two when w1's orphaned training process stopped right after a periodic save: it saves again)
    const ckpt = events.filter((e) => e.type === "checkpoint" && Number(e.data.step) === from && e.seq < starts[1]!.seq);
    assert.ok(ckpt.length >= 1);
  });
});
