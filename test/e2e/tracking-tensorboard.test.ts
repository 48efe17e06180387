// TensorBoard event files written by the orchestrator, checked with TensorBoard itself: its
// EventAccumulator reads back exactly events.jsonl's values at their steps (a local run; a run
// whose worker and training process were killed with SIGKILL and that was then resumed: one
// curve, no step twice, nothing rewound; a two-run sweep: HParams), its CRC matches ours, and
// its server, started by `projhead tensorboard`, serves a sweep's runs, scalars and HParams
// table, which headless Chromium renders (PROJHEAD_SCREENSHOTS=docs writes the README's two
// screenshots, docs/tensorboard-{hparams,dynamics}.png).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium } from "playwright-core";
import { resumeRun, runExperiment } from "../../src/api/run.js";
import { runSweep } from "../../src/api/sweep.js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { maskedCrc32c } from "../../src/tracking/crc32c.js";
import { assertGapless, clientEvents, tinyExperiment, trainingPid, waitForExit } from "../helpers/runs.js";
import { CHROMIUM, expectedScalars, readTensorBoard, serveTensorBoard, tensorboardMissing, type TbRead } from "../helpers/tensorboard.js";
import { needOrSkip } from "../helpers/require.js";

const root = mkdtempSync(join(tmpdir(), "projhead-tb-"));
const runsRoot = join(root, "runs");
const skip = tensorboardMissing();
// Small, but with every kind of event: the kNN monitor and the dynamics every epoch, the
// end-of-training evaluation of every layer.
const MONITORED = { train: { epochs: 2, knnEveryEpochs: 1, evalAtEnd: true }, eval: { probeMaxIter: 10, knnK: 5, baselines: false } };

function assertSameScalars(read: TbRead, runDir: string, what: string): void {
  const expected = expectedScalars(clientEvents(runDir));
  assert.deepEqual(Object.keys(read.scalars).sort(), Object.keys(expected).sort(), `${what}: the tags`);
  for (const [tag, points] of Object.entries(expected)) assert.deepEqual(read.scalars[tag], points, `${what}: ${tag} (step, value)`);
}

describe("TensorBoard event files, read by TensorBoard", { skip }, () => {
  let worker: RunningWorker;
  const workers: RunningWorker[] = [];
  before(async () => {
    worker = await startLocalWorker({ runRoot: runsRoot });
    workers.push(worker);
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
  });

  it("a local run: every scalar of events.jsonl at its step, the spec as text, the layer layout, CRCs as TensorBoard's", { timeout: 120_000 }, async (t) => {
    const exp = tinyExperiment({ name: "tb-local", ...MONITORED });
    const s = await runExperiment(exp, { worker, runsRoot, runId: "local" });
    t.diagnostic(`run: ${s.wallSeconds.toFixed(1)} s`);
    assert.equal(s.state, "finished");
    const runDir = join(runsRoot, "local");
    const samples = [new Uint8Array(0), Buffer.from("projhead"), Buffer.alloc(8, 0xff), Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff)];
    const read = await readTensorBoard(join(runDir, "tb"), samples);
    assert.deepEqual(read.crc, samples.map((b) => maskedCrc32c(b)), "masked CRC32C as TensorBoard computes it");
    assert.equal(read.files.length, 1);
    assertSameScalars(read, runDir, "local run");
    // the families the issue names are all there, with real content
    assert.equal(read.scalars["train/loss"]!.length, 16);
    for (const layer of ["h", "head.1", "z"]) {
      assert.equal(read.scalars[`dynamics/knnTop1/${layer}`]!.length, 3, `dynamics of ${layer} at epochs 0, 1, 2`);
      assert.equal(read.scalars[`eval/linearTop1/${layer}`]!.length, 1, `end evaluation of ${layer}`);
    }
    assert.equal(read.scalars["epoch/knnTop1"]!.length, 2);
    const started = clientEvents(runDir).find((e) => e.type === "started")!;
    assert.ok(started.type === "started");
    const [step, text] = read.texts["spec/resolved"]![0]!;
    assert.equal(step, 0);
    assert.deepEqual(JSON.parse(text.replace(/^```json\n|\n```$/g, "")), started.data.resolvedSpec);
    assert.deepEqual(read.hparams, { "method.name": "joint", seed: 7 });
    assert.equal(read.sessionEnd?.status, "STATUS_SUCCESS");
    const charts = read.layout!.category.flatMap((c) => c.chart.map((ch) => ch.multiline.tag[0]));
    assert.ok(charts.includes("^dynamics/knnTop1/") && charts.includes("^eval/linearTop1/"), JSON.stringify(charts));
  });

  it("train.tensorboard: false writes no event files", { timeout: 120_000 }, async () => {
    const exp = tinyExperiment({ name: "tb-off", train: { epochs: 1, tensorboard: false } });
    assert.equal((await runExperiment(exp, { worker, runsRoot, runId: "off" })).state, "finished");
    assert.equal(existsSync(join(runsRoot, "off", "tb")), false);
  });

  it("a two-run sweep: HParams per run and for the sweep; `projhead tensorboard` serves it; Chromium renders it", { timeout: 240_000 }, async (t) => {
    const sweepsRoot = join(root, "sweeps");
    const exp = tinyExperiment({ name: "tbsweep", ...MONITORED, sweep: { grid: { "method.name": ["joint", "bilevel"] } } });
    const result = await runSweep(exp, { workers: [worker], runsRoot, sweepsRoot });
    assert.deepEqual(result.summaries.map((s) => s.state), ["finished", "finished"]);
    const ids = result.summaries.map((s) => s.runId);
    for (const [i, id] of ids.entries()) {
      const read = await readTensorBoard(join(runsRoot, id, "tb"));
      assertSameScalars(read, join(runsRoot, id), id);
      assert.deepEqual(read.hparams, { "method.name": ["joint", "bilevel"][i], seed: 7 });
      // links from the sweep's folder to the run's own
      assert.equal(readlinkSync(join(result.sweepDir, id)), join("..", "..", "runs", id, "tb"));
    }
    assert.ok(expectedScalars(clientEvents(join(runsRoot, ids[1]!)))["train/innerGain"]?.length, "bilevel's innerGain is there");
    const sweepRead = await readTensorBoard(result.sweepDir);
    const exper = sweepRead.experiment!;
    assert.deepEqual(exper.hparamInfos.map((h) => h.name).sort(), ["method.name", "seed"]);
    assert.ok(exper.metricInfos.some((m) => m.name.tag === "eval/linearTop1/z"));

    const tb = await serveTensorBoard(result.sweepDir);
    try {
      const runs = await (await fetch(`${tb.url}data/runs`)).json() as string[];
      for (const id of ids) assert.ok(runs.includes(id), `TensorBoard lists ${id}: ${JSON.stringify(runs)}`);
      for (const id of ids) {
        const res = await fetch(`${tb.url}data/plugin/scalars/scalars?run=${encodeURIComponent(id)}&tag=${encodeURIComponent("train/loss")}`);
        assert.equal(res.status, 200);
        const points = await res.json() as [number, number, number][];
        assert.deepEqual(points.map(([, step, v]) => [step, v]), expectedScalars(clientEvents(join(runsRoot, id)))["train/loss"]);
      }
      const groups = await (await fetch(`${tb.url}data/plugin/hparams/session_groups`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ experimentName: "", allowedStatuses: ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"], colParams: [], startIndex: 0, sliceSize: 100 }),
      })).json() as { sessionGroups: { name: string; hparams: Record<string, unknown>; metricValues: { name: { tag: string }; value: number }[] }[] };
      assert.deepEqual(groups.sessionGroups.map((g) => g.hparams["method.name"]).sort(), ["bilevel", "joint"], JSON.stringify(groups));
      for (const g of groups.sessionGroups) assert.ok(g.metricValues.some((m) => m.name.tag === "final/finalLoss"), `${g.name} has its final loss in the table`);

      const noBrowser = needOrSkip(existsSync(CHROMIUM), CHROMIUM, "apt-get install -y chromium");
      if (noBrowser) {
        t.diagnostic(`screenshot skipped: ${noBrowser}`);
        return;
      }
      const shots = process.env.PROJHEAD_SCREENSHOTS ?? join(root, "shots");
      mkdirSync(shots, { recursive: true });
      const context = await chromium.launchPersistentContext(join(root, "profile"), {
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1,
      });
      try {
        const page = context.pages()[0] ?? (await context.newPage());
        // only TensorBoard itself (it loads nothing from elsewhere)
        await page.route("**/*", (route) => (route.request().url().startsWith(tb.url) ? route.continue() : route.abort()));
        await page.goto(`${tb.url}#hparams`);
        await page.getByText("bilevel").first().waitFor({ timeout: 30_000 });
        await page.screenshot({ path: join(shots, "tensorboard-hparams.png") });
        // the custom-scalars layout: every layer of a metric in one chart
        await page.goto(`${tb.url}#custom_scalars`);
        await page.getByText("dynamics knnTop1 (every layer)").first().waitFor({ timeout: 30_000 });
        await page.waitForTimeout(2000); // the charts draw after their data arrives
        await page.screenshot({ path: join(shots, "tensorboard-dynamics.png") });
        t.diagnostic(`screenshots in ${shots}`);
      } finally {
        await context.close();
      }
    } finally {
      await tb.stop();
    }
  });
  it("kill -9 of worker and training process, then resume: one curve, each step once, values as events.jsonl", { timeout: 180_000 }, async () => {
    // checkpoints every 4 steps; killed at step 14: the resume goes back to step 12
    const exp = tinyExperiment({ name: "tb-resume", train: { epochs: 4, checkpointEverySteps: 4, checkpointEveryEpochs: 0 } });
    const runDir = join(runsRoot, "killed");
    const target = worker;
    let killed = false;
    await assert.rejects(runExperiment(exp, {
      worker: target, runsRoot, runId: "killed",
      onEvent: (ev) => {
        if (!killed && ev.type === "step" && ev.data.step === 14) {
          killed = true;
          // the training process first, so it cannot checkpoint on noticing its worker gone
          process.kill(trainingPid(runDir), "SIGKILL");
          process.kill(target.pid!, "SIGKILL");
        }
      },
    }));
    const pid = trainingPid(runDir);
    await waitForExit(pid, 20_000, "the killed training process");
    await target.stop().catch(() => undefined);
    const before = await readTensorBoard(join(runDir, "tb"));
    const stepsBefore = before.scalars["train/loss"]!.map(([s]) => s);
    assert.ok(Math.max(...stepsBefore) >= 14, `the file had steps past the last checkpoint before the resume: ${stepsBefore}`);

    worker = await startLocalWorker({ runRoot: runsRoot });
    workers.push(worker);
    const s = await resumeRun(runDir, { worker });
    assert.equal(s.state, "finished");
    const events = clientEvents(runDir);
    assertGapless(events, "events.jsonl");
    const read = await readTensorBoard(join(runDir, "tb"));
    assert.equal(read.files.length, 1, `one event file: ${read.files}`);
    const steps = read.scalars["train/loss"]!.map(([st]) => st);
    assert.deepEqual(steps, Array.from({ length: 32 }, (_, i) => i + 1), "steps 1..32, each once, in order");
    assertSameScalars(read, runDir, "resumed run");
  });

});

