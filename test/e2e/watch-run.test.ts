// watchRun: the run's events as an async iterator on a real worker; leaving the loop early
// cancels the run gracefully (checkpoint, state "cancelled"), like aborting its signal.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { watchRun } from "../../src/api/watch.js";
import type { EventRecord } from "../../src/runs/types.js";
import { tinyExperiment } from "../helpers/runs.js";

it("yields typed events in order; break after the first epoch cancels the run", { timeout: 120_000 }, async () => {
  const runsRoot = mkdtempSync(join(tmpdir(), "projhead-watch-"));
  const run = watchRun(tinyExperiment({ name: "watch", train: { epochs: 30, checkpointEverySteps: 0 } }), { runsRoot, runId: "watch" });
  const seen: EventRecord[] = [];
  for await (const ev of run) {
    seen.push(ev);
    if (ev.type === "epoch" && ev.data.epoch === 1) break;
  }
  const summary = await run.summary;
  assert.equal(summary.state, "cancelled");
  assert.ok(summary.epochs < 30);
  assert.equal(seen[0]!.type, "started");
  assert.deepEqual(seen.map((e) => e.seq), seen.map((_, i) => i + 1));
  const steps = seen.flatMap((e) => (e.type === "step" ? [e.data.step] : []));
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8]);
});
