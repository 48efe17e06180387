// Bad tracking input is a usage error (exit 2) naming where it came from, before any worker
// starts: a URL that is not http(s) in the experiment, in --mlflow or in MLFLOW_TRACKING_URI,
// an MLflow experiment name no server takes, tracking.* in a sweep grid; and `projhead
// tensorboard` on a path that is not a folder.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { cli } from "../helpers/cli.js";
import { tinyYaml } from "../helpers/runs.js";

const dir = mkdtempSync(join(tmpdir(), "projhead-tracking-input-"));
const file = (name: string, over: Record<string, unknown>) => {
  const p = join(dir, name);
  writeFileSync(p, tinyYaml(over));
  return p;
};

describe("bad tracking input exits 2 naming the field", () => {
  it("tracking.mlflow.uri, --mlflow, MLFLOW_TRACKING_URI, tracking.mlflow.experiment, a grid over tracking.*", { timeout: 120_000 }, async () => {
    const runs = join(dir, "runs");
    const cases: { args: string[]; env?: Record<string, string>; field: RegExp }[] = [
      { args: ["run", file("a.yaml", { tracking: { mlflow: { uri: "ftp://tracker:5000" } } })], field: /tracking\.mlflow\.uri.*ftp:\/\/tracker:5000.*http:\/\/ or https:\/\//s },
      { args: ["run", file("b.yaml", {}), "--mlflow", "localhost:5000"], field: /--mlflow.*localhost:5000/s },
      { args: ["run", file("c.yaml", {})], env: { MLFLOW_TRACKING_URI: "file:/tmp/mlruns" }, field: /MLFLOW_TRACKING_URI.*file:\/tmp\/mlruns/s },
      { args: ["run", file("d.yaml", { tracking: { mlflow: { uri: "http://127.0.0.1:9", experiment: " padded " } } })], field: /tracking\.mlflow\.experiment/ },
      { args: ["sweep", file("e.yaml", { sweep: { grid: { "tracking.mlflow.uri": ["http://a:1", "http://b:1"] } } })], field: /sweep\.grid\["tracking\.mlflow\.uri"\]/ },
    ];
    for (const c of cases) {
      const r = await cli([...c.args, "--runs", runs], { env: { ...c.env } });
      assert.equal(r.exitCode, 2, `${c.args.join(" ")}: exit ${r.exitCode}\n${r.stderr}`);
      assert.match(String(r.stderr), c.field);
      assert.doesNotMatch(String(r.stderr), /starting worker/, "no worker started");
    }
    const tb = await cli(["tensorboard", join(dir, "nothing-here")]);
    assert.equal(tb.exitCode, 2);
    assert.match(String(tb.stderr), /<path>: .*nothing-here is not a folder/);
  });
});
