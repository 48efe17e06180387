// docs/CLUSTER.md shows the job script the slurm runtime writes for its example settings: that
// block must be exactly what sbatchScript() makes of them, so the page cannot drift from the code.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { sbatchScript } from "../../src/workers/slurm.js";
import { ROOT } from "../helpers/cli.js";

describe("docs/CLUSTER.md", () => {
  it("shows the job script sbatchScript() writes for the page's example settings", () => {
    const page = readFileSync(join(ROOT, "docs/CLUSTER.md"), "utf8");
    const section = page.slice(page.indexOf("## The job script"));
    const shown = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(shown, "a ```bash block under ## The job script");
    const made = sbatchScript({
      settings: { partition: "gpu", gpusPerJob: 1, cpus: 8, memory: "32G", time: "04:00:00", account: "my-lab", qos: "normal", sbatchArgs: ["--constraint=a100"], shared: "/scratch/me/projhead-slurm", jobs: 4, signalBeforeS: 120 },
      sessionDir: "/scratch/me/projhead-slurm/2026-12-01-1a2b3c4d",
      runRoot: "/scratch/me/projhead/runs",
      dataRoots: ["/scratch/me/data"],
      python: "/scratch/me/projhead/python_worker/.venv/bin/python",
      projectDir: "/scratch/me/projhead",
    });
    assert.equal(shown, made, `docs/CLUSTER.md's job script is out of date; it should read:\n${made}`);
  });
});
