// Ctrl-C of an orchestrator whose sweep runs on worker jobs, on the real cluster (CI: two nodes): the
// runs checkpoint and end cancelled, and every job it submitted (two running, one still waiting
// for room on the node) is cancelled before it exits.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cli, waitFor } from "../helpers/cli.js";
import { tinyYaml } from "../helpers/runs.js";
import { activeJobs, noCluster, SMALL_JOB, submittedJobs } from "./cluster.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-slurm-int-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("Ctrl-C of a --slurm sweep", { skip: noCluster(), timeout: 240_000 }, () => {
  it("cancels every job it submitted", async () => {
    const file = join(tmp, "exp.yaml");
    writeFileSync(file, tinyYaml({ name: "slurm-int", train: { epochs: 200 }, sweep: { grid: { seed: [1, 2, 3] } } }));
    // Three one-CPU jobs on a cluster of two CPUs (one node of two, or two nodes of one): the
    // third waits (Resources) while two run.
    const child = cli(["sweep", file, "--slurm", "--jobs", "3", ...SMALL_JOB, "--shared", join(tmp, "shared"), "--runs", join(tmp, "runs"), "--sweeps", join(tmp, "sweeps")]);
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitFor(() => /started on cpu/.test(stderr), 180_000, () => `a run training:\n${stderr}`);
    const jobs = submittedJobs(stderr);
    assert.equal(jobs.length, 3, stderr);
    assert.ok((await activeJobs(jobs)).length >= 2, "jobs active before Ctrl-C");
    assert.match(stderr, /: PENDING \((Resources|Priority)\)$/m, "one job waited for room");
    child.kill("SIGINT");
    const r = await child;
    assert.equal(r.exitCode, 130, stderr);
    assert.deepEqual(await activeJobs(jobs), [], `every job cancelled:\n${stderr}`);
  });
});
