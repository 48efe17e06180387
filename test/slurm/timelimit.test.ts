// SLURM's own time-limit timer, on the real cluster (CI: two nodes): a job with a one-minute limit and
// --signal=B:USR1@45 gets the warning from slurmctld (at its next periodic check, 15-60 s after
// the start), its worker checkpoints and requeues the job, and the run resumes on the job's next
// incarnation. The losses of a stopped and resumed run are compared step by step in
// preempt.test.ts; here the point is that the cluster's timer, not a test, sends the signal.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cli, waitFor } from "../helpers/cli.js";
import { assertGapless, clientEvents, tinyYaml } from "../helpers/runs.js";
import { activeJobs, noCluster, SMALL_JOB, submittedJobs } from "./cluster.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-slurm-limit-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("a job's time limit", { skip: noCluster(), timeout: 240_000 }, () => {
  it("the limit's warning: the worker checkpoints and requeues its job, the run resumes there", async () => {
    const file = join(tmp, "exp.yaml");
    const runId = "slurm-limit";
    // Far longer than the limit: the warning always lands mid-run.
    writeFileSync(file, tinyYaml({ name: runId, train: { epochs: 2000 }, runtime: { kind: "slurm", slurm: { time: "1", signalBeforeS: 45 } } }));
    const shared = join(tmp, "shared");
    const child = cli(["sweep", file, "--slurm", "--jobs", "1", ...SMALL_JOB, "--shared", shared, "--runs", join(tmp, "runs"), "--sweeps", join(tmp, "sweeps")]);
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const jobLogs = () => {
      try {
        const logs = join(shared, readdirSync(shared)[0]!, "logs");
        return readdirSync(logs).map((f) => `--- ${f}\n${readFileSync(join(logs, f), "utf8").split("\n").slice(-30).join("\n")}`).join("\n");
      } catch {
        return "(no job log)";
      }
    };
    await waitFor(() => /resuming on /.test(stderr), 150_000, () => `the run resumed after the warning:\n${stderr.split("\n").filter((l) => !/^\s+(step|epoch)/.test(l)).join("\n")}\n${jobLogs()}`);
    child.kill("SIGINT");
    const r = await child;
    assert.equal(r.exitCode, 130, stderr);
    const jobs = submittedJobs(stderr);
    assert.equal(jobs.length, 1, `one job, requeued by its worker rather than replaced:\n${stderr}`);
    const [job] = jobs;
    assert.match(stderr, new RegExp(`^slurm job ${job}: REQUEUED$`, "m"));
    assert.match(stderr, /INTERRUPTED \(worker_signal\)/, "the worker itself got the warning and stopped the run");
    const announced = readdirSync(join(shared, readdirSync(shared)[0]!, "workers"));
    assert.ok(announced.includes(`${job}-1.json`), `the requeued incarnation announced itself: ${announced.join(", ")}`);
    // The resumed run went on from its checkpoint: one log, every event once.
    assertGapless(clientEvents(join(tmp, "runs", runId)), runId);
    assert.deepEqual(await activeJobs(jobs), [], "the job cancelled on Ctrl-C");
  });
});
