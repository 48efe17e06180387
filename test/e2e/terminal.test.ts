// The run display in a real pseudo-terminal (util-linux `script`), read back as the screen a
// user sees: "starting worker…" before the worker is up, no ETA before one can be measured, the
// epoch lines and the "cancelling" line stay on screen under the live bar, and the summary
// follows them instead of overwriting them (the bar used to restore the cursor to the row it
// started on). Ctrl-C is typed into the terminal, so it reaches the foreground process group.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { ROOT, waitFor } from "../helpers/cli.js";
import { needOrSkip } from "../helpers/require.js";
import { tinyYaml } from "../helpers/runs.js";
import { renderScreen } from "../helpers/terminal.js";

const hasScript = (() => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const dir = mkdtempSync(join(tmpdir(), "projhead-terminal-"));
const file = join(dir, "term.yaml");
writeFileSync(file, tinyYaml({ name: "term", train: { epochs: 30, knnEveryEpochs: 1, checkpointEverySteps: 0 } }));

const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

describe("projhead run in a terminal", { skip: needOrSkip(hasScript, "util-linux script", "apt-get install bsdutils") }, () => {
  it("keeps the epoch lines, the cancelling line and the summary readable", { timeout: 120_000 }, async () => {
    const cmd = [process.execPath, "--import", "tsx", join(ROOT, "src/main.ts"), "run", file, "--runs", join(dir, "runs"), "--run-id", "term"].map(q).join(" ");
    // CI="" so the display takes the terminal path even on CI
    const child = execa("script", ["-qfec", cmd, "/dev/null"], { cwd: ROOT, env: { CI: "", COLUMNS: "100" }, stdin: "pipe", reject: false });
    let raw = "";
    child.stdout!.on("data", (b: Buffer) => (raw += b.toString("utf8")));
    await waitFor(() => /epoch 1\/30 {2}loss/.test(raw), 90_000, "the first epoch line");
    child.stdin!.write("\x03"); // Ctrl-C, typed
    const r = await child;
    assert.equal(r.exitCode, 130, raw);

    const screen = renderScreen(raw).filter((l) => l.trim() && l.trim() !== "^C");
    const at = (re: RegExp) => {
      const i = screen.findIndex((l) => re.test(l));
      assert.ok(i >= 0, `${re} on screen:\n${screen.join("\n")}`);
      return i;
    };
    const starting = at(/^term: starting worker…$/);
    const started = at(/^term: started on cpu, 256 images/);
    const epoch1 = at(/^ {2}epoch 1\/30 {2}loss \d\.\d{4} {2}kNN \d+\.\d%/);
    const cancelling = at(/^cancelling: the worker writes a checkpoint first/);
    const runRow = at(/^ {2}run {13}term$/);
    const state = at(/^ {2}state {11}cancelled$/);
    at(/^ {2}kNN top-1 {7}\d+\.\d% \(random init: \d+\.\d%; [+-]\d+\.\d points from training\)$/);
    const hint = at(/^cancelled; continue with: (npx )?projhead resume \S+$/);
    assert.ok(starting < started && started < epoch1 && epoch1 < cancelling && cancelling < runRow && runRow < state && state < hint, screen.join("\n"));
    // the bar is gone from the final screen, every epoch line printed survived
    assert.deepEqual(screen.filter((l) => /[░█]/.test(l)), [], screen.join("\n"));
    const epochLines = screen.filter((l) => /^ {2}epoch \d+\/30 {2}loss/.test(l)).length;
    assert.equal(epochLines, (raw.match(/epoch \d+\/30 {2}loss/g) ?? []).length);
    // no ETA was shown before one could be measured
    const etas = [...raw.matchAll(/\| step \d+\/240 \| loss [^|]*\| [^|]* img\/s \| ETA ([^\s\x1b]+)/g)].map((m) => m[1]);
    assert.equal(etas[0], "-", "the first bar has no ETA");
    assert.ok(etas.some((e) => /^\d+(m\d\ds|s)$/.test(e!)), `an ETA once steps were timed: ${etas.join(" ")}`);
  });
});
