// The comparison contract end to end (real worker, real gRPC, real training): every method logs
// the same `loss`; bilevel adds headLoss / innerGain and records its resolved head optimizer in
// the `started` event and in spec.json; summaries carry equal-compute accounting; `dynamics`
// events are stored; eval.json leaves out (and names) the layers a method does not train.
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
import type { DynamicsData, RunSummary } from "../../src/runs/types.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-science-"));
const runsRoot = join(tmp, "runs");

const exp: ExperimentInput = {
  name: "science",
  seed: 0,
  data: { name: "shapes", trainLimit: 128, testLimit: 64, syntheticSize: 256 },
  model: { backbone: "convnet", width: 4, head: { hiddenDims: [16], outDim: 8 } },
  method: { bilevel: { innerSteps: 2 } },
  optim: { name: "sgd", lr: 0.1, momentum: 0.8, nesterov: true, weightDecay: 1e-3 },
  train: {
    epochs: 2, batchSize: 64, device: "cpu", precision: "fp32", threads: 1,
    logEverySteps: 1, knnEveryEpochs: 0, checkpointEveryEpochs: 0, evalAtEnd: true,
    layerEvalEveryEpochs: 1, layerEvalSubset: 32,
  },
  sweep: { grid: { "method.name": ["bilevel", "no_head"] } },
};

describe("the comparison contract", { timeout: 300_000 }, () => {
  let w: RunningWorker;
  let summaries: RunSummary[] = [];
  const stderr: string[] = [];
  before(async () => {
    w = await startLocalWorker({ runRoot: join(tmp, "worker"), onStderr: (l) => stderr.push(l) });
    const res = await runSweep(resolveExperiment(exp), { workers: [w], runsRoot, sweepsRoot: join(tmp, "sweeps") });
    summaries = res.summaries;
    for (const s of summaries) assert.equal(s.state, "finished", `${s.runId}: ${s.error ?? ""}\n${stderr.slice(-15).join("\n")}`);
  });
  after(async () => {
    await w?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const run = (method: string) => new RunDir(summaries.find((s) => s.method === method)!.runDir);

  it("logs loss for every method, headLoss and innerGain only for bilevel", () => {
    const steps = (m: string) => run(m).readEvents().filter((e) => e.type === "step").map((e) => e.data);
    assert.equal(steps("bilevel").length, 4);
    for (const d of steps("bilevel")) {
      const { loss, headLoss, innerGain } = d as { loss: number; headLoss: number; innerGain: number };
      assert.ok(loss > 0 && headLoss > 0 && headLoss < loss, JSON.stringify(d));
      assert.ok(Math.abs(innerGain - (loss - headLoss)) < 1e-5, JSON.stringify(d));
    }
    for (const d of steps("no_head")) {
      assert.ok(Number(d.loss) > 0);
      assert.ok(!("headLoss" in d) && !("innerGain" in d), `no_head reports no head loss: ${JSON.stringify(d)}`);
    }
    // finalLoss is the comparable loss of the last step
    const last = steps("bilevel").at(-1)!;
    assert.equal(summaries.find((s) => s.method === "bilevel")!.finalLoss, last.loss);
  });

  it("records bilevel's resolved head optimizer (inherited from optim) in started and spec.json", () => {
    const inherited = { name: "sgd", lr: 0.1, momentum: 0.8, nesterov: true, weightDecay: 1e-3 };
    const started = run("bilevel").readEvents().find((e) => e.type === "started")!;
    assert.deepEqual(started.data.headOptimizer, inherited);
    assert.deepEqual(run("bilevel").readSpec().headOptimizer, inherited);
    assert.equal(run("no_head").readSpec().headOptimizer, undefined);
    assert.ok(!("headOptimizer" in run("no_head").readEvents().find((e) => e.type === "started")!.data));
  });

  it("records equal-compute accounting in summary.json", () => {
    const b = run("bilevel").readSummary()!;
    assert.equal(b.optimizerSteps, 4);
    assert.equal(b.imagesSeen, 4 * 64);
    assert.equal(b.innerHeadSteps, 8); // K = 2
    assert.ok(b.trainSeconds! > 0 && b.trainSeconds! < b.wallSeconds, JSON.stringify(b));
    assert.equal(run("no_head").readSummary()!.innerHeadSteps, 0);
  });

  it("stores the dynamics of every trained layer as events", () => {
    const dyn = (m: string) => run(m).readEvents().filter((e) => e.type === "dynamics").map((e) => e.data as unknown as DynamicsData);
    const b = dyn("bilevel");
    assert.deepEqual(b.map((d) => [d.epoch, d.step]), [[0, 0], [1, 2], [2, 4]]);
    for (const d of b) {
      assert.equal(d.subsetSize, 32);
      assert.ok(d.seconds > 0);
      assert.deepEqual(d.layers.map((l) => [l.layer, l.index, l.dim]), [["h", 0, 32], ["head.1", 1, 16], ["z", 2, 8]]);
      for (const l of d.layers) {
        assert.ok(l.knnTop1 >= 0 && l.knnTop1 <= 1 && l.effectiveRank >= 1 && l.effectiveRank <= l.dim, JSON.stringify(l));
        assert.ok(l.alignment >= 0 && l.alignment <= 4 && l.uniformity <= 0, JSON.stringify(l));
      }
    }
    assert.deepEqual(dyn("no_head")[0]!.layers.map((l) => l.layer), ["h"]);
  });

  it("leaves the layers a method does not train out of eval.json, and names them", () => {
    const b = run("bilevel").readEval()!;
    assert.deepEqual(b.layers.map((l) => l.layer), ["h", "head.1", "z"]);
    assert.deepEqual(b.untrainedLayers, []);
    for (const l of b.layers) assert.ok(typeof l.probeConverged === "boolean" && l.probeIterations! >= 1, JSON.stringify(l));
    const n = run("no_head").readEval()!;
    assert.deepEqual(n.layers.map((l) => l.layer), ["h"]);
    assert.deepEqual(n.untrainedLayers, ["head.1", "z"]);
  });
});
