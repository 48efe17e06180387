// A sweep through the slurm runtime on the real cluster (CI: two nodes): two worker jobs submitted with
// sbatch, each run finished on a job's worker, every job gone from squeue at the end, and the
// report written; and the same over TLS (runtime.slurm.tls for the workers, runtime.tls for the
// client).
import assert from "node:assert/strict";
import { execa } from "execa";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cli, waitFor } from "../helpers/cli.js";
import { tinyYaml, waitForWorkerEvent } from "../helpers/runs.js";
import { makeCert } from "../helpers/tls.js";
import { activeJobs, noCluster, SMALL_JOB, submittedJobs } from "./cluster.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-slurm-sweep-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("sweep --slurm", { skip: noCluster(), timeout: 240_000 }, () => {
  it("runs two runs on two worker jobs, cancels the jobs and writes the report", async () => {
    const file = join(tmp, "exp.yaml");
    writeFileSync(file, tinyYaml({ name: "slurm-sweep", train: { epochs: 2 }, sweep: { grid: { "method.name": ["joint", "bilevel"] } } }));
    const shared = join(tmp, "shared");
    const r = await cli(["sweep", file, "--slurm", "--jobs", "2", ...SMALL_JOB, "--shared", shared, "--runs", join(tmp, "runs"), "--sweeps", join(tmp, "sweeps")]);
    const stderr = String(r.stderr);
    assert.equal(r.exitCode, 0, stderr);
    const jobs = submittedJobs(stderr);
    assert.equal(jobs.length, 2, `two jobs submitted:\n${stderr}`);
    for (const j of jobs) assert.match(stderr, new RegExp(`^slurm job ${j}: RUNNING on \\S+$`, "m"), `job ${j} seen running`);
    for (const id of ["slurm-sweep-joint", "slurm-sweep-bilevel"]) {
      assert.equal(JSON.parse(readFileSync(join(tmp, "runs", id, "summary.json"), "utf8")).state, "finished", id);
    }
    const sweepDir = join(tmp, "sweeps", "slurm-sweep");
    assert.ok(readdirSync(sweepDir).some((f) => f.endsWith(".html")), `report written in ${sweepDir}`);
    assert.match(String(r.stdout), /joint/, "report printed");
    assert.deepEqual(await activeJobs(jobs), [], "no job left in squeue");
    // The token the workers require stays readable by its owner only.
    const [session] = readdirSync(shared);
    assert.equal(statSync(join(shared, session!, "token")).mode & 0o777, 0o600);
  });

  it("worker start --slurm: a worker job that `run --worker` uses with its token, cancelled on Ctrl-C", async () => {
    const child = cli(["worker", "start", "--slurm", ...SMALL_JOB, "--shared", join(tmp, "shared-start"), "--runs", join(tmp, "runs-start"), "--json"]);
    let stdout = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    await waitFor(() => stdout.includes('"ready"'), 120_000, "the worker job ready");
    const ready = JSON.parse(stdout.trim().split("\n").pop()!) as { jobId: string; address: string; tokenFile: string };
    assert.doesNotMatch(ready.address, /^127\./, "bound off loopback");
    const file = join(tmp, "one.yaml");
    writeFileSync(file, tinyYaml({ name: "slurm-start", train: { epochs: 1 } }));
    const token = readFileSync(ready.tokenFile, "utf8").trim();
    const wrong = await cli(["run", file, "--worker", ready.address, "--runs", join(tmp, "runs-start")], { env: { PROJHEAD_TOKEN: "wrong" } });
    assert.notEqual(wrong.exitCode, 0, "a wrong token is refused");
    const r = await cli(["run", file, "--worker", ready.address, "--runs", join(tmp, "runs-start"), "--run-id", "slurm-start"], { env: { PROJHEAD_TOKEN: token } });
    assert.equal(r.exitCode, 0, String(r.stderr));
    assert.equal(JSON.parse(readFileSync(join(tmp, "runs-start", "slurm-start", "summary.json"), "utf8")).state, "finished");
    child.kill("SIGINT");
    assert.equal((await child).exitCode, 130);
    assert.deepEqual(await activeJobs([ready.jobId]), []);
  });
  it("worker start --slurm follows its job through a requeue: the next incarnation's address is printed", async () => {
    const child = cli(["worker", "start", "--slurm", ...SMALL_JOB, "--shared", join(tmp, "shared-follow"), "--runs", join(tmp, "runs-follow"), "--json"]);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const readies = () => stdout.split("\n").filter((l) => l.includes('"ready"')).map((l) => JSON.parse(l) as { jobId: string; address: string; tokenFile: string });
    await waitFor(() => readies().length === 1, 120_000, () => `the worker job ready:\n${stderr}`);
    const [first] = readies();
    const token = readFileSync(first!.tokenFile, "utf8").trim();
    // A long run on it, so that the warning stops a run and the worker requeues its job.
    const file = join(tmp, "long.yaml");
    writeFileSync(file, tinyYaml({ name: "slurm-follow", train: { epochs: 500 } }));
    const run = cli(["run", file, "--worker", first!.address, "--runs", join(tmp, "runs-follow"), "--run-id", "slurm-follow"], { env: { PROJHEAD_TOKEN: token } });
    await waitForWorkerEvent(join(tmp, "runs-follow", "slurm-follow"), (e) => e.type === "checkpoint", 120_000, "a checkpoint");
    await execa("scancel", ["--batch", "--signal=USR1", first!.jobId]);
    assert.notEqual((await run).exitCode, 0, "the run was interrupted");
    await waitFor(() => readies().length === 2, 120_000, () => `the next incarnation announced:\n${stderr}`);
    const [, second] = readies();
    assert.equal(second!.jobId, first!.jobId, "the same job, requeued");
    assert.notEqual(second!.address, first!.address);
    child.kill("SIGINT");
    assert.equal((await child).exitCode, 130, stderr);
    assert.deepEqual(await activeJobs([first!.jobId]), []);
  });

  it("TLS: the worker jobs serve TLS with the certificate on the shared folder, and the sweep trusts it", async () => {
    const { cert, key } = makeCert(tmp, "slurm-worker");
    const file = join(tmp, "tls.yaml");
    // The worker binds to the node's address; the certificate names localhost, so the client
    // checks that name (runtime.tls.serverName), as with a cluster-internal CA.
    writeFileSync(file, tinyYaml({ name: "slurm-tls", train: { epochs: 1 }, runtime: { kind: "slurm", tls: { ca: cert, serverName: "localhost" }, slurm: { tls: { cert, key } } } }));
    const shared = join(tmp, "shared-tls");
    const r = await cli(["sweep", file, "--slurm", "--jobs", "1", ...SMALL_JOB, "--shared", shared, "--runs", join(tmp, "runs-tls"), "--sweeps", join(tmp, "sweeps-tls")]);
    const stderr = String(r.stderr);
    assert.equal(r.exitCode, 0, stderr);
    assert.equal(JSON.parse(readFileSync(join(tmp, "runs-tls", "slurm-tls", "summary.json"), "utf8")).state, "finished");
    const [session] = readdirSync(shared);
    const script = readFileSync(join(shared, session!, "job.sh"), "utf8");
    assert.match(script, /--tls-cert \S+slurm-worker\.pem --tls-key \S+slurm-worker\.key/, "the job script starts the worker with TLS");
    const [job] = submittedJobs(stderr);
    const log = readFileSync(join(shared, session!, "logs", `${job}.out`), "utf8");
    assert.doesNotMatch(log, /clear text/, "the worker did not warn of a token in clear text");
    assert.deepEqual(await activeJobs([job!]), []);
  });
});
