// The README's quickstart as a user runs it (examples/quickstart.yaml, unchanged, through the
// CLI): it must show plainly that the backbone learned, the kNN monitor at the end at least 5
// points above the same backbone at its random initialisation, with both numbers printed.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { cli, ROOT } from "../helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "projhead-quickstart-"));
after(() => rmSync(dir, { recursive: true, force: true }));

it("the quickstart learns: kNN at least 5 points above the random-init backbone", { timeout: 600_000 }, async () => {
  const r = await cli(["run", join(ROOT, "examples/quickstart.yaml"), "--runs", join(dir, "runs")]);
  assert.equal(r.exitCode, 0, String(r.stderr).slice(-2000));
  // "  kNN top-1       73.4% (random init: 67.8%; +5.6 points from training)"
  const m = /kNN top-1 +(\d+\.\d)% \(random init: (\d+\.\d)%; ([+-]\d+\.\d) points from training\)/.exec(String(r.stdout));
  assert.ok(m, `the summary prints both numbers:\n${String(r.stdout)}`);
  const [end, init, gain] = [Number(m[1]), Number(m[2]), Number(m[3])];
  assert.ok(Math.abs(end - init - gain) < 0.11, "the gain is the difference of the two numbers");
  assert.ok(gain >= 5, `kNN ${end} % vs ${init} % at random init: ${gain} points`);
  assert.match(String(r.stdout), /epochs \/ steps +3 \/ 468/);
});
