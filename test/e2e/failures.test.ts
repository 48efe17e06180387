// Failures are named: a NaN loss, missing or corrupt dataset files and a training process killed
// with SIGKILL each end the run as `failed` with its cause (in the failed event and in
// summary.json), keep the last good checkpoint, and make `projhead run` exit non-zero with the
// reason on stderr and in --json. (Out of memory is mapped in Python: tests/test_failures.py.)
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runExperiment } from "../../src/api/run.js";
import { RunDir } from "../../src/runs/store.js";
import type { RunSummary } from "../../src/runs/types.js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { cli, lastJson } from "../helpers/cli.js";
import { checkpointStep, clientEvents, tinyExperiment, tinyYaml, trainingPid } from "../helpers/runs.js";

const dir = mkdtempSync(join(tmpdir(), "projhead-failures-"));
const runs = join(dir, "runs");
const data = join(dir, "data");

function failedEvent(runDir: string) {
  const events = clientEvents(runDir);
  const last = events[events.length - 1]!;
  assert.equal(last.type, "failed", `the run ends with a failed event: ${JSON.stringify(events.slice(-2))}`);
  return last.data as { cause: string; message: string; lastCheckpoint: string };
}

function storedSummary(runDir: string): RunSummary {
  const s = new RunDir(runDir).readSummary();
  assert.ok(s, "summary.json was written");
  return s;
}

describe("named failures through the CLI", () => {
  it("NaN loss: non_finite_loss, the last good checkpoint kept, exit 1 with the reason", { timeout: 90_000 }, async () => {
    // Logged every 3 steps, saved every step: the NaN of step 5 is caught before step 5 is saved.
    const file = join(dir, "nan.yaml");
    writeFileSync(file, tinyYaml({ name: "nan", train: { epochs: 2, logEverySteps: 3, checkpointEverySteps: 1 } }));
    const r = await cli(["run", file, "--runs", runs, "--run-id", "nan", "--json"], { env: { PROJHEAD_FAULT: "nan_loss_at_step:5" } });
    assert.equal(r.exitCode, 1, String(r.stderr));
    assert.match(String(r.stderr), /failed: non_finite_loss: .*nan/i);
    const out = lastJson<RunSummary>(r.stdout);
    assert.equal(out.state, "failed");
    assert.equal(out.cause, "non_finite_loss");
    assert.equal(out.lastCheckpoint, "checkpoints/last.pt");
    const runDir = join(runs, "nan");
    const ev = failedEvent(runDir);
    assert.equal(ev.cause, "non_finite_loss");
    assert.match(ev.message, /step 5/);
    assert.equal(storedSummary(runDir).cause, "non_finite_loss");
    assert.equal(await checkpointStep(join(runDir, ev.lastCheckpoint)), 4, "the checkpoint is the last good one (finite weights)");
  });

  it("missing dataset files: cause dataset, the missing file named on stderr", { timeout: 90_000 }, async () => {
    const root = join(data, "empty-mnist");
    mkdirSync(root, { recursive: true });
    const file = join(dir, "missing.yaml");
    writeFileSync(file, tinyYaml({ name: "missing", data: { name: "mnist", root, syntheticSize: 0 } }));
    const r = await cli(["run", file, "--runs", runs, "--run-id", "missing"]);
    assert.equal(r.exitCode, 1, String(r.stderr));
    assert.match(String(r.stderr), /failed: dataset: .*empty-mnist.*train-images-idx3-ubyte.*not found/);
    assert.match(String(r.stdout), /state\s+failed \(dataset: /);
    const runDir = join(runs, "missing");
    assert.equal(failedEvent(runDir).cause, "dataset");
    assert.equal(failedEvent(runDir).lastCheckpoint, "");
    assert.equal(storedSummary(runDir).cause, "dataset");
  });
});

describe("named failures through the library", () => {
  let worker: RunningWorker;
  before(async () => {
    mkdirSync(data, { recursive: true });
    worker = await startLocalWorker({ runRoot: runs, dataRoots: [data] });
  });
  after(async () => {
    await worker?.stop();
  });

  it("corrupt IDX file: cause dataset, naming the file and what is wrong", { timeout: 60_000 }, async () => {
    const root = join(data, "corrupt-mnist");
    mkdirSync(root, { recursive: true });
    for (const stem of ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]) {
      writeFileSync(join(root, stem), Buffer.from("this is not an IDX file at all"));
    }
    const exp = tinyExperiment({ name: "corrupt", data: { name: "mnist", root, syntheticSize: 0 } });
    const s = await runExperiment(exp, { worker, runsRoot: runs, runId: "corrupt" });
    assert.equal(s.state, "failed");
    assert.equal(s.cause, "dataset");
    assert.match(s.error!, /corrupt-mnist\/train-images-idx3-ubyte: wrong magic number/);
    assert.equal(storedSummary(join(runs, "corrupt")).cause, "dataset");
  });

  it("training process killed with SIGKILL: cause crash, the last checkpoint kept", { timeout: 60_000 }, async () => {
    const runDir = join(runs, "crash");
    let killed = false;
    const exp = tinyExperiment({ name: "crash", train: { epochs: 8 } });
    const s = await runExperiment(exp, {
      worker, runsRoot: runs, runId: "crash",
      onEvent: (ev) => {
        if (!killed && ev.type === "checkpoint") {
          killed = true;
          process.kill(trainingPid(runDir), "SIGKILL");
        }
      },
    });
    assert.ok(killed);
    assert.equal(s.state, "failed");
    assert.equal(s.cause, "crash");
    assert.match(s.error!, /SIGKILL/);
    const ev = failedEvent(runDir);
    assert.equal(ev.lastCheckpoint, "checkpoints/last.pt");
    assert.ok((await checkpointStep(join(runDir, ev.lastCheckpoint))) >= 2);
    assert.equal(storedSummary(runDir).cause, "crash");
  });
});
