// The paired comparison end to end: a real sweep (joint and bilevel × 2 seeds, real worker,
// real training and layer-wise evaluation), then the report. Every number of the comparison is
// recomputed here from the runs' own eval.json files, independently of the report's code: the
// per-seed differences, their mean, the 95 % t-interval (t(0.975, 1) = 12.7062) and the verdict
// read from that interval alone.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runSweep } from "../../src/api/sweep.js";
import { resolveExperiment, type ExperimentInput } from "../../src/experiment/index.js";
import { buildReport, type ReportResult } from "../../src/report/index.js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import type { RunSummary } from "../../src/runs/types.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-verdict-"));
const runsRoot = join(tmp, "runs");
const sweepsRoot = join(tmp, "sweeps");
const T_975_DF1 = 12.706204736;

const exp: ExperimentInput = {
  name: "verdict",
  data: { name: "shapes", trainLimit: 256, testLimit: 128, syntheticSize: 512 },
  model: { backbone: "convnet", width: 4, head: { hiddenDims: [16], outDim: 8 } },
  method: { bilevel: { innerSteps: 1 } },
  optim: { lr: 0.1 },
  train: {
    epochs: 1, batchSize: 64, device: "cpu", precision: "fp32", threads: 1,
    logEverySteps: 1, knnEveryEpochs: 0, checkpointEveryEpochs: 0, evalAtEnd: true,
  },
  sweep: { grid: { "method.name": ["joint", "bilevel"], seed: [0, 1] } },
};

interface EvalLayer {
  layer: string;
  linearTop1: number;
}

describe("paired verdict on a real sweep", { timeout: 600_000 }, () => {
  let w: RunningWorker;
  let summaries: RunSummary[] = [];
  let report: ReportResult;
  const stderr: string[] = [];
  before(async () => {
    w = await startLocalWorker({ runRoot: join(tmp, "worker"), onStderr: (l) => stderr.push(l) });
    const res = await runSweep(resolveExperiment(exp), { workers: [w], runsRoot, sweepsRoot });
    summaries = res.summaries;
    for (const s of summaries) assert.equal(s.state, "finished", `${s.runId}: ${s.error ?? ""}\n${stderr.slice(-15).join("\n")}`);
    report = await buildReport([join(sweepsRoot, "verdict")], { color: false });
  });
  after(async () => {
    await w?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const evalOf = (method: string, seed: number): EvalLayer[] => {
    const s = summaries.find((x) => x.method === method && x.seed === seed)!;
    return (JSON.parse(readFileSync(join(s.runDir, "eval.json"), "utf8")) as { layers: EvalLayer[] }).layers;
  };
  const linearAt = (method: string, seed: number, layer: string) => evalOf(method, seed).find((l) => l.layer === layer)!.linearTop1;

  it("pairs bilevel with joint seed by seed and recomputes the same difference, interval and verdict", () => {
    assert.equal(report.json.baseline, "joint");
    const cmp = report.json.comparisons.find((c) => c.method === "bilevel")!;
    assert.ok(cmp, "a bilevel comparison exists");
    assert.deepEqual(cmp.pairs.map((p) => p.seed).sort(), [0, 1]);
    const h = cmp.layers.find((l) => l.layer === "h")!.metrics.linearTop1!;
    const diffs = [0, 1].map((seed) => linearAt("bilevel", seed, "h") - linearAt("joint", seed, "h"));
    assert.deepEqual(h.diffs.map((d) => d.value).sort(), [...diffs].sort());
    const mean = (diffs[0]! + diffs[1]!) / 2;
    const std = Math.abs(diffs[0]! - diffs[1]!) / Math.SQRT2;
    const half = (T_975_DF1 * std) / Math.SQRT2;
    assert.ok(Math.abs(h.mean - mean) < 1e-12, `mean ${h.mean} vs ${mean}`);
    assert.ok(Math.abs(h.ci!.half - half) < 1e-6, `half-width ${h.ci!.half} vs ${half}`);
    const expected = mean - half > 0 ? "better" : mean + half < 0 ? "worse" : "no difference shown";
    assert.equal(h.verdict, expected);
  });

  it("records the code revision and the probe protocol of every run", () => {
    const head = execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    for (const s of summaries) {
      const spec = JSON.parse(readFileSync(join(s.runDir, "spec.json"), "utf8")) as { codeRevision?: { commit: string; dirty: boolean } };
      assert.equal(spec.codeRevision?.commit, head, `${s.runId}: spec.json codeRevision`);
      assert.equal(typeof spec.codeRevision?.dirty, "boolean");
      const ev = JSON.parse(readFileSync(join(s.runDir, "eval.json"), "utf8")) as {
        formatVersion: number; testImages: number; trainImages: number; rankDefinition: string;
        protocol: { probeL2Grid: number[]; valImages: number; knnK: number };
        baselines: { layer: string; linearTop1: number; knnTop1: number }[];
        layers: { probeL2: number; probeValTop1: number[]; linearValTop1: number }[];
      };
      assert.equal(ev.formatVersion, 2);
      // shapes of 512 images: 410 train (limited to 256) + 102 test (below the limit of 128)
      assert.deepEqual([ev.trainImages, ev.testImages], [256, 102], "the real counts, not 0");
      assert.equal(ev.rankDefinition, "rankme");
      assert.ok(ev.protocol.valImages > 0 && ev.protocol.valImages < 256 && ev.protocol.knnK === 200);
      assert.deepEqual(ev.baselines.map((b) => b.layer), ["pixels", "h@init"]);
      for (const l of ev.layers) {
        assert.ok(ev.protocol.probeL2Grid.includes(l.probeL2));
        assert.equal(l.probeValTop1.length, ev.protocol.probeL2Grid.length);
        assert.equal(l.linearValTop1, Math.max(...l.probeValTop1));
      }
    }
  });

  it("prints the verdict in the terminal tables", () => {
    assert.match(report.text, /better|worse|no difference shown/);
  });
});
