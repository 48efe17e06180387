// Ctrl-C in the CLI: the first SIGINT cancels gracefully (the worker checkpoints, the CLI exits
// 130 and prints the resume command, which then finishes the run); a second SIGINT shortly after
// stops at once and the last checkpoint still loads.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { cli, isAlive, lastJson, waitFor } from "../helpers/cli.js";
import {
  assertGapless, checkpointStep, clientEvents, stepLosses, tinyYaml, trainingPid, waitForExit, workerEvents,
} from "../helpers/runs.js";

const dir = mkdtempSync(join(tmpdir(), "projhead-interrupt-"));
const runs = join(dir, "runs");
const file = join(dir, "interrupt.yaml");
writeFileSync(file, tinyYaml({ name: "interrupt", train: { epochs: 12 } })); // 96 steps

const hasStep = (runDir: string) => () => clientEvents(runDir).some((e) => e.type === "step");

describe("Ctrl-C in projhead run", () => {
  it("first SIGINT: checkpoint, exit 130 with the resume command; `projhead resume` finishes the run", { timeout: 120_000 }, async () => {
    const runDir = join(runs, "once");
    const child = cli(["run", file, "--runs", runs, "--run-id", "once"]);
    await waitFor(hasStep(runDir), 60_000, "the first step event");
    child.kill("SIGINT");
    const r = await child;
    assert.equal(r.exitCode, 130, String(r.stderr));
    const m = /continue with: ((?:npx )?projhead resume (\S+))/.exec(String(r.stderr));
    assert.ok(m, `the resume command is printed: ${r.stderr}`);

    // The run ended cancelled with a checkpoint of the very step it stopped at (written by the
    // cancel, or the periodic one it had just written at that step).
    const theirs = workerEvents(runDir);
    const end = theirs[theirs.length - 1]!;
    assert.equal(end.type, "cancelled");
    assert.equal(end.checkpoint, "checkpoints/last.pt");
    const ckpt = theirs.filter((e) => e.type === "checkpoint").pop()!;
    assert.equal(ckpt.step, end.step);
    const stepsBefore = stepLosses(clientEvents(runDir)).length;
    assert.ok(stepsBefore < 96, "cancelled before the end");

    // The printed command, as printed (relative to the CLI's working directory).
    const resumed = await cli(["resume", m[2]!, "--json"]);
    assert.equal(resumed.exitCode, 0, String(resumed.stderr));
    const s = lastJson<{ state: string; steps: number }>(resumed.stdout);
    assert.equal(s.state, "finished");
    assert.equal(s.steps, 96);
    const events = clientEvents(runDir);
    assertGapless(events, "events.jsonl after resume");
    assert.equal(stepLosses(events).length, 96);
  });

  it("second SIGINT stops at once; the last checkpoint still loads", { timeout: 120_000 }, async () => {
    const runDir = join(runs, "twice");
    // As a terminal does: Ctrl-C reaches the whole foreground process group (CLI and worker).
    const child = cli(["run", file, "--runs", runs, "--run-id", "twice"], { detached: true });
    await waitFor(() => clientEvents(runDir).some((e) => e.type === "checkpoint"), 60_000, "the first checkpoint");
    let stderr = "";
    let t0 = 0;
    child.stderr!.on("data", (b: Buffer) => {
      stderr += b.toString();
      // the second Ctrl-C as soon as the CLI took the first one
      if (!t0 && stderr.includes("cancelling")) {
        t0 = Date.now();
        process.kill(-child.pid!, "SIGINT");
      }
    });
    process.kill(-child.pid!, "SIGINT");
    await waitFor(() => t0 > 0, 10_000, "the CLI to take the first Ctrl-C");
    const r = await child;
    assert.equal(r.exitCode, 130, stderr);
    assert.ok(Date.now() - t0 < 20_000, `stopped within seconds (${Date.now() - t0} ms)`);
    assert.match(stderr, /stopping now/);
    assert.match(stderr, /projhead resume/);

    // Nothing of the run keeps going, and what it left is a loadable checkpoint.
    const pid = trainingPid(runDir);
    assert.ok(pid > 0);
    await waitForExit(pid, 30_000, "the training process to be gone");
    const step = await checkpointStep(join(runDir, "checkpoints", "last.pt"));
    assert.ok(step >= 1 && step < 96, `checkpoint at step ${step}`);
    await waitFor(() => !isAlive(child.pid!), 10_000, "the CLI process to be gone");
  });
});
