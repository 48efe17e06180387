// Exact resume: on the CPU with a fixed seed, a run whose worker is killed with SIGKILL at random
// points (three times) and resumed each time by a fresh worker on the same run root ends with the
// same per-step loss sequence as the uninterrupted run. The training process of a killed worker
// notices, checkpoints and exits (it never outlives its worker), and temporary files left in the
// checkpoint folder are removed on restart.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { resumeRun, runExperiment } from "../../src/api/run.js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { UnavailableError } from "../../src/client/errors.js";
import {
  assertGapless, checkpointStep, clientEvents, stepLosses, tinyExperiment, trainingPid, waitForExit, workerEvents,
} from "../helpers/runs.js";

const runRoot = mkdtempSync(join(tmpdir(), "projhead-resume-"));
const KILLS = 3;

describe("resume after the worker is killed", () => {
  const workers: RunningWorker[] = [];
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });

  it("replays exactly the uninterrupted run's losses after 3 SIGKILLs of the worker", { timeout: 170_000 }, async () => {
    const exp = tinyExperiment({ name: "resume", train: { epochs: 8 } }); // 64 steps
    const first = await startLocalWorker({ runRoot });
    workers.push(first);
    const reference = await runExperiment(exp, { worker: first, runsRoot: runRoot, runId: "reference" });
    assert.equal(reference.state, "finished");
    const expected = stepLosses(clientEvents(join(runRoot, "reference")));
    assert.equal(expected.length, 64);

    const runDir = join(runRoot, "killed");
    const seed = Date.now() % 100000;
    let rand = seed;
    const random = () => ((rand = (rand * 48271) % 2147483647) / 2147483647);
    let worker = first;
    const killedAt: string[] = [];
    for (let k = 0; k <= KILLS; k++) {
      const last = k === KILLS;
      // Kill after a random number of this segment's events (steps, checkpoints, epochs).
      let untilKill = 2 + Math.floor(random() * 24);
      const target = worker;
      const onEvent = last
        ? undefined
        : (ev: { seq: number; type: string }) => {
            if (--untilKill === 0) {
              killedAt.push(`${ev.type} ${ev.seq}`);
              process.kill(target.pid!, "SIGKILL");
            }
          };
      const t0 = Date.now();
      const go = k === 0
        ? runExperiment(exp, { worker, runsRoot: runRoot, runId: "killed", onEvent })
        : resumeRun(runDir, { worker, onEvent });
      if (last) {
        const summary = await go;
        assert.equal(summary.state, "finished", `kill seed ${seed}`);
        break;
      }
      await assert.rejects(go, (err: Error) => {
        assert.ok(err instanceof UnavailableError, `expected UnavailableError, got ${err}`);
        // at once, not after the reconnect timeout, and saying how to go on
        assert.match(err.message, /exited while run killed was in progress; resume it with `projhead resume /);
        return true;
      });
      const t1 = Date.now();
      await worker.stop();

      // The orphaned training process notices, checkpoints and exits.
      const pid = trainingPid(runDir);
      assert.ok(pid > 0, "the training process wrote its pid into train.lock");
      await waitForExit(pid, 60_000, `training process ${pid} to exit after its worker was killed`);
      const theirs = workerEvents(runDir);
      const end = theirs[theirs.length - 1]!;
      assert.equal(end.type, "interrupted", `the orphan ended interrupted: ${JSON.stringify(theirs.slice(-2))} (segment ${k}, killed at ${killedAt.join(", ")})`);
      assert.equal(end.reason, "worker_died", "not a cancel: its worker died");
      // ... naming a checkpoint of the step it stopped at (its own, or the one it had just written)
      const ckpt = theirs.filter((e) => e.type === "checkpoint").pop()!;
      assert.equal(end.checkpoint, "checkpoints/last.pt");
      assert.equal(ckpt.step, end.step, "the newest checkpoint holds the step the orphan stopped at");

      // A temporary file as a kill during a save leaves it: removed when the run resumes.
      writeFileSync(join(runDir, "checkpoints", ".last.pt.tmp-999999"), "partial");
      const t2 = Date.now();
      worker = await startLocalWorker({ runRoot });
      workers.push(worker);
      process.stdout.write(`# segment ${k}: ${t1 - t0} ms to kill, ${t2 - t1} ms for the orphan, ${Date.now() - t2} ms worker start\n`);
    }

    const ckptDir = join(runDir, "checkpoints");
    assert.deepEqual(readdirSync(ckptDir).filter((f) => f.includes(".tmp")), [], "temporary checkpoint files were cleaned");
    const events = clientEvents(runDir);
    assertGapless(events, "events.jsonl of the resumed run");
    assert.equal(events[events.length - 1]!.type, "finished");
    const got = stepLosses(events);
    assert.equal(got.length, expected.length, `kill seed ${seed}, killed at ${killedAt.join(", ")}`);
    const worst = Math.max(...got.map((l, i) => Math.abs(l - expected[i]!)));
    assert.ok(worst <= 1e-6, `largest loss difference ${worst} (kill seed ${seed}, killed at ${killedAt.join(", ")})`);
    assert.equal(await checkpointStep(join(ckptDir, "last.pt")), 64);
    assert.ok(existsSync(join(runDir, "summary.json")));
    process.stdout.write(`# killed at ${killedAt.join(", ")} (seed ${seed}); largest loss difference ${worst}\n`);
  });
});
