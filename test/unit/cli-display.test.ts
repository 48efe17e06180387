// Small pieces of the CLI's output: the command printed in hints, the ETA text, the progress of
// runs sharing the screen, and the screen model the terminal test reads the display with.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { it } from "node:test";
import { selfCommand } from "../../src/cli/output.js";
import { formatEta, RunProgress } from "../../src/cli/progress.js";
import type { EventRecord } from "../../src/runs/types.js";
import { renderScreen } from "../helpers/terminal.js";

it("hints name `npx projhead` when started by npx or when projhead is not on PATH", () => {
  const bin = mkdtempSync(join(tmpdir(), "projhead-bin-"));
  writeFileSync(join(bin, "projhead"), "#!/bin/sh\n");
  chmodSync(join(bin, "projhead"), 0o755);
  assert.equal(selfCommand({ npm_command: "exec", PATH: bin }), "npx projhead");
  assert.equal(selfCommand({ PATH: bin }), "projhead");
  assert.equal(selfCommand({ PATH: tmpdir() }), "npx projhead");
});

it("ETA text", () => {
  assert.deepEqual([formatEta(0.4), formatEta(42), formatEta(185), formatEta(3725)], ["0s", "42s", "3m05s", "1h02m"]);
});

it("the screen model replays a bar that restores its cursor over lines printed since", () => {
  // what cli-progress did before: save at the bar row, lines printed above the moving bar,
  // restore + clear at the end -> the summary lands on the first epoch line
  const raw = "started\r\n\x1b7\x1b[1Gbar 1\x1b[0K\r\x1b[Kepoch 1\r\n\x1b[1Gbar 2\x1b[0K\r\x1b[Kepoch 2\r\n\x1b[1Gbar 3\x1b[0K\x1b8\x1b[1G\x1b[2Ksummary\r\n";
  assert.deepEqual(renderScreen(raw), ["started", "summary", "epoch 2", "bar 3"]);
});

it("runs that share the screen: no bar even on a terminal, and every line names its run", () => {
  let text = "";
  const out = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream;
  out.write = ((chunk: string) => ((text += chunk), true)) as NodeJS.WriteStream["write"];
  const saved = process.env.CI;
  delete process.env.CI;
  try {
    for (const sharedScreen of [true, false]) {
      text = "";
      const p = new RunProgress("demo-joint", { out, sharedScreen });
      p.onEvent({ seq: 1, time: 0, type: "started", data: { totalSteps: 4, stepsPerEpoch: 2, trainImages: 64, startStep: 0, resumed: false, device: "cpu", resolvedSpec: { train: { epochs: 2 } } } } as unknown as EventRecord);
      p.onEvent({ seq: 2, time: 0, type: "epoch", data: { epoch: 1, loss: 1.5, knnTop1: -1, imagesPerSec: 10, epochSeconds: 1 } } as unknown as EventRecord);
      p.stop();
      if (sharedScreen) assert.deepEqual(text.split("\n").filter(Boolean), ["demo-joint: started on cpu, 64 images, 4 steps (2/epoch)", "demo-joint: epoch 1/2  loss 1.5000  kNN -  10 img/s  1.0 s"]);
      else assert.match(text, /\r\x1b\[K {2}epoch 1\/2 {2}loss 1\.5000/, "alone on a terminal: the bar, and the epoch line printed over it");
    }
  } finally {
    if (saved !== undefined) process.env.CI = saved;
  }
});
