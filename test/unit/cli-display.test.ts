// Small pieces of the CLI's output: the command printed in hints, the ETA text, and the screen
// model the terminal test reads the display with.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { selfCommand } from "../../src/cli/output.js";
import { formatEta } from "../../src/cli/progress.js";
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
