// Worker jobs that stop mid-run, on the real cluster (CI: two nodes). `scancel` of the job (SIGTERM to
// every process of the job): the run checkpoints, ends `interrupted`, and resumes on a new job.
// The pre-timeout signal (what --signal=B:USR1@N sends): the worker checkpoints, stops and
// requeues its own job (same id, SLURM_RESTART_COUNT 1), and the run resumes there. In both, the run
// ends with the same losses as an uninterrupted one (CPU, same seed), no step lost or repeated,
// and no job is left.
import assert from "node:assert/strict";
import { execa } from "execa";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cli, waitFor } from "../helpers/cli.js";
import { assertGapless, clientEvents, stepLosses, tinyYaml, waitForWorkerEvent } from "../helpers/runs.js";
import { activeJobs, noCluster, SMALL_JOB, submittedJobs } from "./cluster.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-slurm-preempt-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A sweep of one run through --slurm, running in the background; its stderr as it comes. */
function slurmSweep(file: string, name: string, extra: string[]) {
  const child = cli(["sweep", file, "--slurm", "--jobs", "1", ...SMALL_JOB, "--shared", join(tmp, `shared-${name}`), "--runs", join(tmp, `runs-${name}`), "--sweeps", join(tmp, `sweeps-${name}`), ...extra]);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return { child, stderr: () => stderr, runDir: (id: string) => join(tmp, `runs-${name}`, id) };
}

const summaryState = (runDir: string) => JSON.parse(readFileSync(join(runDir, "summary.json"), "utf8")).state as string;

describe("worker jobs stopped mid-run", { skip: noCluster(), timeout: 420_000 }, () => {
  // 256 images, batch 32: 8 steps an epoch; a checkpoint every 2 steps. 24 epochs (a few seconds
  // on one thread) so that the signal sent after the step-6 checkpoint lands mid-run.
  const file = join(tmp, "exp.yaml");
  const runId = "slurm-preempt";
  let reference: number[];
  before(async () => {
    writeFileSync(file, tinyYaml({ name: runId, train: { epochs: 24 } }));
    const r = await cli(["sweep", file, "--runs", join(tmp, "runs-ref"), "--sweeps", join(tmp, "sweeps-ref")]);
    assert.equal(r.exitCode, 0, String(r.stderr));
    reference = stepLosses(clientEvents(join(tmp, "runs-ref", runId)));
    assert.equal(reference.length, 192);
  });

  it("scancel: the run resumes on a new job with the losses of an uninterrupted run", async () => {
    const s = slurmSweep(file, "scancel", []);
    const runDir = s.runDir(runId);
    await waitForWorkerEvent(runDir, (e) => e.type === "checkpoint" && Number(e.step) >= 6, 120_000, "a checkpoint at step 6");
    const [first] = submittedJobs(s.stderr());
    assert.ok(first, s.stderr());
    await execa("scancel", [first!]);
    const r = await s.child;
    const stderr = s.stderr();
    assert.equal(r.exitCode, 0, stderr);
    const jobs = submittedJobs(stderr);
    assert.equal(jobs.length, 2, `a second job took the run over:\n${stderr}`);
    assert.equal(summaryState(runDir), "finished");
    const events = clientEvents(runDir);
    assertGapless(events, runId);
    assert.deepEqual(stepLosses(events), reference, "same losses as the uninterrupted run");
    // The resumed run's log replaces what followed its checkpoint; the progress kept the stop.
    assert.match(stderr, /INTERRUPTED \((worker_)?signal\)/, "the run was interrupted, not cancelled");
    assert.deepEqual(await activeJobs(jobs), []);
  });

  it("pre-timeout signal: the worker checkpoints, requeues its job, the run resumes and finishes", async () => {
    // What --signal=B:USR1@N delivers before the time limit: SIGUSR1 to the batch shell alone,
    // which is the worker (exec'd). Sent here mid-run with `scancel --batch --signal=USR1`, since
    // SLURM's own timer fires only at its once-a-minute check, anywhere in a 60 s window.
    const s = slurmSweep(file, "timelimit", ["--time", "10"]);
    const runDir = s.runDir(runId);
    await waitForWorkerEvent(runDir, (e) => e.type === "checkpoint" && Number(e.step) >= 6, 120_000, "a checkpoint at step 6");
    const [job] = submittedJobs(s.stderr());
    await execa("scancel", ["--batch", "--signal=USR1", job!]);
    const r = await s.child;
    const stderr = s.stderr();
    assert.equal(r.exitCode, 0, stderr);
    assert.deepEqual(submittedJobs(stderr), [job], `one job, requeued by its worker rather than replaced:\n${stderr}`);
    assert.match(stderr, new RegExp(`^slurm job ${job}: REQUEUED$`, "m"));
    assert.match(stderr, /INTERRUPTED \(worker_signal\)/, "the worker itself got the signal and stopped the run");
    assert.equal(summaryState(runDir), "finished");
    const events = clientEvents(runDir);
    assertGapless(events, runId);
    assert.deepEqual(stepLosses(events), reference, "every step once, with the losses of an uninterrupted run");
    // The second incarnation announced itself under the restart count SLURM gave it.
    const shared = join(tmp, "shared-timelimit");
    const announced = readdirSync(join(shared, readdirSync(shared)[0]!, "workers"));
    assert.ok(announced.includes(`${job}-1.json`), `announcements: ${announced.join(", ")}`);
    assert.deepEqual(await activeJobs([job!]), []);
  });
  it("Ctrl-C while a job requeues itself: the job is cancelled all the same, none comes back", async () => {
    const s = slurmSweep(file, "requeue-int", []);
    await waitForWorkerEvent(s.runDir(runId), (e) => e.type === "checkpoint" && Number(e.step) >= 6, 120_000, "a checkpoint at step 6");
    const [job] = submittedJobs(s.stderr());
    await execa("scancel", ["--batch", "--signal=USR1", job!]);
    // The worker has stopped the run and is about to requeue its job (or has): stop now.
    await waitFor(() => /INTERRUPTED \(worker_signal\)/.test(s.stderr()), 60_000, () => `the run interrupted:\n${s.stderr()}`);
    s.child.kill("SIGINT");
    const r = await s.child;
    assert.equal(r.exitCode, 130, s.stderr());
    assert.deepEqual(await activeJobs([job!]), [], `the job is not left pending or running:\n${s.stderr()}`);
  });
});
