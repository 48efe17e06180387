// MLflow on a real tracking server (`mlflow server`, SQLite store, local artifact folder, on
// 127.0.0.1, from the pinned tools/mlflow environment): a two-run sweep appears nested under
// its sweep's run with the resolved spec as params, the tags, every metric's history equal to
// events.jsonl and the artifacts downloadable; a server killed mid-run and started again costs
// the run nothing, gives one warning, and MLflow ends with the full history.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runExperiment } from "../../src/api/run.js";
import { runSweep } from "../../src/api/sweep.js";
import { ExperimentError } from "../../src/experiment/index.js";
import { buildReport } from "../../src/report/index.js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import type { EventRecord } from "../../src/runs/types.js";
import { finishSweepParent } from "../../src/tracking/mlflowSweep.js";
import { clientEvents, tinyExperiment } from "../helpers/runs.js";
import { freePort, MlflowServer, mlflowMissing } from "../helpers/mlflow.js";

const root = mkdtempSync(join(tmpdir(), "projhead-mlflow-"));
const runsRoot = join(root, "runs");
const skip = mlflowMissing();

interface RunInfo { info: { run_id: string; run_name: string; status: string; artifact_uri: string; experiment_id: string }; data: { params?: { key: string; value: string }[]; tags?: { key: string; value: string }[] } }

/** train/loss and the per-layer evaluation as events.jsonl holds them (doubles, as MLflow keeps them). */
function expectedHistory(events: EventRecord[]): Record<string, [number, number][]> {
  const out: Record<string, [number, number][]> = { "train/loss": [] };
  let last = 0;
  for (const ev of events) {
    if (ev.type === "step") {
      out["train/loss"]!.push([Number(ev.data.step), ev.data.loss]);
      last = Number(ev.data.step);
    }
    if (ev.type === "evaluation") (out[`eval/linearTop1/${ev.data.layer}`] ??= []).push([last, ev.data.linearTop1]);
    if (ev.type === "dynamics") for (const l of ev.data.layers) (out[`dynamics/knnTop1/${l.layer}`] ??= []).push([Number(ev.data.step), l.knnTop1]);
  }
  return out;
}

const kv = (list: { key: string; value: string }[] = []) => Object.fromEntries(list.map((p) => [p.key, p.value]));

describe("MLflow on a real tracking server", { skip }, () => {
  let server: MlflowServer;
  let worker: RunningWorker;
  before(async () => {
    server = new MlflowServer(root, await freePort());
    [, worker] = await Promise.all([server.start(), startLocalWorker({ runRoot: runsRoot })]);
  });
  after(async () => {
    await worker?.stop().catch(() => undefined);
    await server?.stop();
  });

  it("a two-run sweep: nested under the sweep's run, params, tags, histories equal to the events, artifacts", { timeout: 480_000 }, async () => {
    const exp = tinyExperiment({
      name: "mlsweep", train: { epochs: 2, knnEveryEpochs: 1, evalAtEnd: true }, eval: { probeMaxIter: 10, knnK: 5, baselines: false },
      sweep: { grid: { seed: [1, 2] } }, tracking: { mlflow: { uri: server.url } },
    });
    const result = await runSweep(exp, { workers: [worker], runsRoot, sweepsRoot: join(root, "sweeps") });
    assert.deepEqual(result.summaries.map((s) => s.state), ["finished", "finished"]);
    const report = await buildReport([result.sweepDir]);
    await finishSweepParent(result.sweepDir, report.htmlPath, false);

    const { experiment } = await server.api<{ experiment: { experiment_id: string } }>("GET", "experiments/get-by-name?experiment_name=mlsweep");
    const { runs } = await server.api<{ runs: RunInfo[] }>("POST", "runs/search", { experiment_ids: [experiment.experiment_id], max_results: 100 });
    assert.equal(runs.length, 3, "the sweep's run and its two runs");
    const parent = runs.find((r) => kv(r.data.tags)["projhead.kind"] === "sweep")!;
    assert.ok(parent, "a run for the sweep");
    assert.equal(parent.info.run_name, "mlsweep");
    assert.equal(parent.info.status, "FINISHED");
    const html = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${parent.info.artifact_uri.replace(/^mlflow-artifacts:\//, "")}/report.html`);
    assert.equal(html.status, 200);
    assert.equal(await html.text(), readFileSync(report.htmlPath!, "utf8"), "the sweep's report.html, downloadable");

    for (const [i, s] of result.summaries.entries()) {
      const run = runs.find((r) => r.info.run_name === s.runId)!;
      assert.ok(run, `a run named ${s.runId}`);
      assert.equal(run.info.status, "FINISHED");
      const tags = kv(run.data.tags);
      assert.equal(tags["mlflow.parentRunId"], parent.info.run_id, "nested under the sweep's run");
      assert.deepEqual({ method: tags.method, seed: tags.seed, sweep: tags.sweep, dataset: tags.dataset, backbone: tags.backbone }, { method: "joint", seed: String(i + 1), sweep: "mlsweep", dataset: "shapes", backbone: "convnet" });
      assert.ok(tags["code.revision"], "the code revision");
      const params = kv(run.data.params);
      const started = clientEvents(s.runDir).find((e) => e.type === "started")!;
      assert.ok(started.type === "started");
      assert.equal(params.seed, String(i + 1));
      assert.equal(params["train.epochs"], "2");
      assert.equal(params["model.head.hiddenDims"], JSON.stringify(started.data.resolvedSpec?.model?.head?.hiddenDims));
      assert.equal(params["train.precision"], "fp32", "an enum by the label experiment files use");
      assert.equal(params["train.compile"], "false", "zero values are params too");
      assert.ok(Object.keys(params).length >= 40, `the flattened resolved spec: ${Object.keys(params).length} params`);
      for (const [key, points] of Object.entries(expectedHistory(clientEvents(s.runDir)))) {
        assert.deepEqual(await server.history(run.info.run_id, key), points, `${s.runId}: ${key}`);
      }
      for (const file of ["eval.json", "spec.json"]) {
        const res = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${run.info.artifact_uri.replace(/^mlflow-artifacts:\//, "")}/${file}`);
        assert.equal(res.status, 200, file);
        assert.deepEqual(JSON.parse(await res.text()), JSON.parse(readFileSync(join(s.runDir, file), "utf8")), `${file} of ${s.runId}`);
      }
    }
  });

  it("an experiment name the server refuses (a deleted experiment's) exits as bad input naming the field, before any worker starts", { timeout: 60_000 }, async () => {
    const { experiment_id } = await server.api<{ experiment_id: string }>("POST", "experiments/create", { name: "gone" });
    await server.api("POST", "experiments/delete", { experiment_id });
    const exp = tinyExperiment({ name: "refused", tracking: { mlflow: { uri: server.url, experiment: "gone" } } });
    await assert.rejects(runExperiment(exp, { runsRoot, runId: "refused" }), (err: Error) => {
      assert.ok(err instanceof ExperimentError, String(err));
      assert.match(err.message, /tracking\.mlflow\.experiment.*gone.*deleted/s);
      return true;
    });
    assert.equal(existsSync(join(runsRoot, "refused")), false, "nothing written, no worker started");
  });

  it("the server killed mid-run and started again: the run finishes, one warning, MLflow gets the full history", { timeout: 480_000 }, async (t) => {
    process.env.PROJHEAD_MLFLOW_FINISH_WAIT_MS = "300000"; // a server start takes long on a busy 2-core machine
    const warnings: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (String(chunk).includes("MLflow")) warnings.push(String(chunk));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    const pending: { stopped?: Promise<void>; restarted?: Promise<void> } = {};
    try {
      const exp = tinyExperiment({ name: "outage", train: { epochs: 3 }, tracking: { mlflow: { uri: server.url } } });
      const s = await runExperiment(exp, {
        worker, runsRoot, runId: "outage",
        onEvent: (ev) => {
          if (ev.type === "step" && ev.data.step === 4) pending.stopped = server.stop();
          // back once training is over: the run's end waits for it and sends what it missed
          if (ev.type === "finished") {
            pending.restarted = (async () => {
              await pending.stopped;
              await server.start();
            })();
          }
        },
      });
      await pending.restarted;
      assert.equal(s.state, "finished", "the run finished normally");
      assert.equal(s.steps, 24);
      const down = warnings.filter((w) => /is not answering/.test(w));
      assert.equal(down.length, 1, `one warning for the outage: ${JSON.stringify(warnings)}`);
      assert.equal(warnings.filter((w) => /answers again/.test(w)).length, 1, JSON.stringify(warnings));
      const state = JSON.parse(readFileSync(join(runsRoot, "outage", "mlflow.json"), "utf8")) as { runId: string; sentSeq: number };
      const events = clientEvents(join(runsRoot, "outage"));
      assert.equal(state.sentSeq, events.at(-1)!.seq, "every event sent");
      assert.deepEqual(await server.history(state.runId, "train/loss"), expectedHistory(events)["train/loss"], "the full loss history, each step once");
      const { run } = await server.api<{ run: RunInfo }>("GET", `runs/get?run_id=${state.runId}`);
      assert.equal(run.info.status, "FINISHED");
      t.diagnostic(`warnings: ${warnings.join(" | ").replace(/\n/g, " ")}`);
    } finally {
      process.stderr.write = write;
      delete process.env.PROJHEAD_MLFLOW_FINISH_WAIT_MS;
      await pending.restarted?.catch(() => undefined);
    }
  });
});
