// Multi-node on the real two-node cluster (`scripts/slurm-cluster.sh up --nodes 2`: each node a
// network namespace with its own address and hostname, one slurmd each, joined by a private
// bridge), so every byte between the ranks crosses a network link, not loopback:
// - test_dist.py's check with its two gloo ranks on the two nodes: the gradient-carrying gather,
//   DDP and the joint / bilevel steps on a batch split over the nodes equal one process on the
//   whole batch (losses, gradients, weights);
// - a sweep of joint and bilevel with train.nnodes 2, nproc 1 through the slurm runtime: one job
//   of two nodes, srun + torchrun (c10d rendezvous at the worker's address), rank 0 on the first
//   node and rank 1 on the second, both in the job's log, and the same losses step for step as
//   the same runs with nproc 2 on one machine, and the same final weights;
// - the time-limit warning on that job: rank 0 alone checkpoints, once; the job requeues itself
//   and the run resumes there with the losses of an uninterrupted run.
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { venvPython } from "../../src/workers/paths.js";
import { cli, ROOT, waitFor } from "../helpers/cli.js";
import { assertGapless, clientEvents, stepLosses, tinyYaml, waitForWorkerEvent, workerEvents } from "../helpers/runs.js";
import { activeJobs, clusterNodes, noTwoNodes, SMALL_JOB, submittedJobs } from "./cluster.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-slurm-multinode-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const skip = noTwoNodes();
const python = venvPython();
const TWO_NODES = { nnodes: 2, nproc: 1 };

/** The job log(s) of a session folder, joined. */
function jobLogs(shared: string): string {
  if (!existsSync(shared)) return `(no session folder at ${shared})`;
  const session = readdirSync(shared)[0]!;
  const logs = join(shared, session, "logs");
  return readdirSync(logs).map((f) => readFileSync(join(logs, f), "utf8")).join("\n");
}

/** The model weights of a run's last checkpoint, as JSON lists (read by the worker's torch). */
async function finalWeights(runDir: string): Promise<Record<string, number[]>> {
  const code = [
    "import json, sys, torch",
    "c = torch.load(sys.argv[1], map_location='cpu', weights_only=False)",
    "m = c.get('model', c)",
    "print(json.dumps({k: v.double().flatten().tolist() for k, v in m.items() if torch.is_tensor(v) and v.is_floating_point()}))",
  ].join("\n");
  const r = await execa(python, ["-c", code, join(runDir, "checkpoints", "last.pt")], { cwd: ROOT });
  return JSON.parse(r.stdout) as Record<string, number[]>;
}

function assertClose(a: number[], b: number[], what: string, tol = 1e-5): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${x} vs ${b[i]}`));
}

/** The long run of the fault tests on one machine with nproc 2 (made once): its step losses. */
let longReference: Promise<number[]> | null = null;
function longRun(): { file: string; runId: string; reference: () => Promise<number[]> } {
  const runId = "mn-long";
  const file = join(tmp, "long.yaml");
  writeFileSync(file, tinyYaml({ name: runId, train: { epochs: 12, ...TWO_NODES } }));
  const reference = () =>
    (longReference ??= (async () => {
      const refFile = join(tmp, "long-ref.yaml");
      writeFileSync(refFile, tinyYaml({ name: runId, train: { epochs: 12, nnodes: 1, nproc: 2 } }));
      const ref = await cli(["sweep", refFile, "--runs", join(tmp, "runs-lref"), "--sweeps", join(tmp, "sweeps-lref")]);
      assert.equal(ref.exitCode, 0, String(ref.stderr));
      return stepLosses(clientEvents(join(tmp, "runs-lref", runId)));
    })());
  return { file, runId, reference };
}

// Each test has its own deadline (generous: the CI machine has 2 cores); the suite has none.
describe("two nodes (network namespaces) of one process each", { skip }, () => {
  const nodes = skip ? [] : clusterNodes();

  it("test_dist's check over the network: the gather with gradients, joint and bilevel, one node each rank", { timeout: 180_000 }, async () => {
    const out = join(tmp, "dist");
    const script = join(ROOT, "test", "slurm", "dist_over_network.py");
    mkdirSync(out, { recursive: true });
    const ranks = await execa("srun", ["--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--cpus-per-task=1", "--mem=1500M", "--label", "--time=5", python, script, "rank", out], { cwd: ROOT, reject: false, timeout: 150_000 });
    assert.equal(ranks.exitCode, 0, `${ranks.stdout}\n${ranks.stderr}`);
    const compared = await execa(python, [script, "compare", out], { cwd: ROOT, reject: false });
    assert.equal(compared.exitCode, 0, `the two-node result equals one process on the whole batch:\n${compared.stderr}`);
    const hosts = JSON.parse(compared.stdout.trim().split("\n").pop()!) as { hostname: string; addresses: string[]; master: string }[];
    assert.deepEqual(hosts.map((h) => h.hostname), nodes.slice(0, 2), "rank r on node r");
    assert.equal(hosts[0]!.addresses.length, 1, `one address on node ${hosts[0]!.hostname}`);
    assert.notDeepEqual(hosts[0]!.addresses, hosts[1]!.addresses, "two network stacks, two addresses");
    assert.ok(hosts.every((h) => h.master === hosts[0]!.hostname), "MASTER_ADDR is the first node's name");
  });

  const file = join(tmp, "exp.yaml");
  const sweep = { grid: { "method.name": ["joint", "bilevel"] } };
  const ids = ["mn-joint", "mn-bilevel"];
  before(() => {
    writeFileSync(file, tinyYaml({ name: "mn", train: { epochs: 2, ...TWO_NODES }, sweep }));
  });

  it("joint and bilevel on one job of two nodes: ranks ordered, both nodes logged, losses and weights of one-node DDP", { timeout: 400_000 }, async () => {
    // The reference: the same runs with two processes on this machine (local worker, torchrun).
    const refFile = join(tmp, "ref.yaml");
    writeFileSync(refFile, tinyYaml({ name: "mn", train: { epochs: 2, nnodes: 1, nproc: 2 }, sweep }));
    const ref = await cli(["sweep", refFile, "--runs", join(tmp, "runs-ref"), "--sweeps", join(tmp, "sweeps-ref")]);
    assert.equal(ref.exitCode, 0, String(ref.stderr));

    const shared = join(tmp, "shared");
    const started = Date.now();
    const r = await cli(["sweep", file, "--slurm", "--jobs", "1", ...SMALL_JOB, "--shared", shared, "--runs", join(tmp, "runs"), "--sweeps", join(tmp, "sweeps")]);
    const stderr = String(r.stderr);
    assert.equal(r.exitCode, 0, `${stderr}\n${jobLogs(shared)}`);
    const seconds = (Date.now() - started) / 1000;
    if (process.env.PROJHEAD_TEST_DEBUG) console.error(`two-node sweep of 2 runs: ${seconds.toFixed(1)} s`);
    const jobs = submittedJobs(stderr);
    assert.equal(jobs.length, 1, stderr);
    assert.match(stderr, new RegExp(`^slurm job ${jobs[0]}: RUNNING on ${nodes[0]!.replace(/\d+$/, "")}`, "m"));
    const log = jobLogs(shared);
    const session = readdirSync(shared)[0]!;
    const announced = JSON.parse(readFileSync(join(shared, session, "workers", `${jobs[0]}-0.json`), "utf8")) as { address: string };
    const workerHost = announced.address.slice(0, announced.address.lastIndexOf(":"));
    for (const id of ids) {
      // The rendezvous is at the worker's own address (the job script's PROJHEAD_RDZV_HOST).
      const rdzv = new RegExp(`run ${id} trains on 2 node\\(s\\) x 1 process\\(es\\), c10d rendezvous at (\\S+):(\\d+)`).exec(log);
      assert.ok(rdzv, `the launch of ${id} logged:\n${log}`);
      assert.equal(rdzv[1], workerHost, "rendezvous host = the address the worker announced");
      // Both nodes' ranks reached the run's log: rank 0 on the first node, rank 1 on the second.
      for (const [rank, node] of nodes.slice(0, 2).entries()) {
        assert.match(log, new RegExp(`^\\[${id}\\] projhead: rank ${rank} of 2 on ${node} \\(node rank ${rank}, local rank 0, master ${nodes[0]}:\\d+\\)$`, "m"), `rank ${rank} of ${id} on ${node}`);
      }
      const events = clientEvents(join(tmp, "runs", id));
      assertGapless(events, id);
      assert.equal(JSON.parse(readFileSync(join(tmp, "runs", id, "summary.json"), "utf8")).state, "finished", id);
      assert.equal(events.find((e) => e.type === "started")!.data.worldSize, 2);
      const refEvents = clientEvents(join(tmp, "runs-ref", id));
      const losses = stepLosses(events);
      assert.equal(losses.length, 16, `${id}: 2 epochs of 8 steps, each once`);
      assertClose(losses, stepLosses(refEvents), `${id} losses`);
      const [mine, theirs] = await Promise.all([finalWeights(join(tmp, "runs", id)), finalWeights(join(tmp, "runs-ref", id))]);
      assert.deepEqual(Object.keys(mine).sort(), Object.keys(theirs).sort());
      for (const k of Object.keys(mine)) assertClose(mine[k]!, theirs[k]!, `${id} ${k}`);
    }
    assert.deepEqual(await activeJobs(jobs), []);
  });

  it("the time-limit warning on a two-node job: one checkpoint (rank 0), a requeue, the run resumes with the same losses", { timeout: 400_000 }, async () => {
    const { file: longFile, runId, reference } = longRun();
    const expected = await reference();

    const shared = join(tmp, "shared-limit");
    const runDir = join(tmp, "runs-limit", runId);
    const child = cli(["sweep", longFile, "--slurm", "--jobs", "1", ...SMALL_JOB, "--time", "10", "--shared", shared, "--runs", join(tmp, "runs-limit"), "--sweeps", join(tmp, "sweeps-limit")]);
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitForWorkerEvent(runDir, (e) => e.type === "checkpoint" && Number(e.step) >= 6, 180_000, "a checkpoint at step 6");
    const [job] = submittedJobs(stderr);
    // What --signal=B:USR1@N sends: SIGUSR1 to the batch shell, the worker, on the first node.
    await execa("scancel", ["--batch", "--signal=USR1", job!]);
    const r = await child;
    assert.equal(r.exitCode, 0, `${stderr}\n${jobLogs(shared)}`);
    assert.deepEqual(submittedJobs(stderr), [job], `one job, requeued by its worker:\n${stderr}`);
    assert.match(stderr, new RegExp(`^slurm job ${job}: REQUEUED$`, "m"));
    assert.match(stderr, /INTERRUPTED \(worker_signal\)/);
    // Rank 0 alone wrote the stop's checkpoint, once (the worker's own log keeps every attempt).
    const stops = workerEvents(runDir).filter((e) => e.type === "checkpoint" && ["signal", "worker_signal", "cancel"].includes(String(e.reason)));
    assert.equal(stops.length, 1, `one checkpoint for the warning: ${JSON.stringify(stops)}`);
    const events = clientEvents(runDir);
    assertGapless(events, runId);
    assert.equal(events.filter((e) => e.type === "started").length, 2, "started, then resumed");
    assertClose(stepLosses(events), expected, "losses of the stopped and resumed run");
    assert.deepEqual(await activeJobs([job!]), []);
  });

  it("a node that stops answering mid-run (its link cut): the job is requeued naming the node, the run resumes there when it is back", { timeout: 400_000 }, async () => {
    // The host end of the second node's veth pair (scripts/slurm-cluster.sh: <node>-v).
    const link = `${nodes[1]}-v`;
    assert.equal((await execa("ip", ["link", "show", link], { reject: false })).exitCode, 0, `the cluster's link ${link}`);
    const { file: longFile, runId, reference } = longRun();
    const expected = await reference();
    const shared = join(tmp, "shared-fail");
    const runDir = join(tmp, "runs-fail", runId);
    const child = cli(["sweep", longFile, "--slurm", "--jobs", "1", ...SMALL_JOB, "--time", "10", "--shared", shared, "--runs", join(tmp, "runs-fail"), "--sweeps", join(tmp, "sweeps-fail")]);
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    try {
      await waitForWorkerEvent(runDir, (e) => e.type === "checkpoint" && Number(e.step) >= 6, 180_000, "a checkpoint at step 6");
      const [job] = submittedJobs(stderr);
      await execa("ip", ["link", "set", link, "down"]);
      // SlurmdTimeout (15 s) later the node is DOWN and SLURM requeues the job (--requeue).
      await waitFor(() => new RegExp(`^slurm job ${job}: REQUEUED`, "m").test(stderr), 150_000, () => `the job requeued:\n${stderr}`);
      await execa("ip", ["link", "set", link, "up"]);
      assert.match(stderr, new RegExp(`^slurm job ${job}: REQUEUED \\(node ${nodes[1]} \\(down\\*?: Not responding\\)\\)$`, "m"), "the requeue names the node");
      const r = await child;
      assert.equal(r.exitCode, 0, `${stderr}\n${jobLogs(shared)}`);
      assert.deepEqual(submittedJobs(stderr), [job], `the same job, requeued by SLURM, took the run up again:\n${stderr}`);
      // The run's first attempt ended with its worker, and the cause names the node.
      assert.match(stderr, new RegExp(`worker \\S+ lost \\(the worker at \\S+ exited while run ${runId} was in progress[^]*slurm job ${job} stopped with node ${nodes[1]} \\(down`), stderr);
      assert.equal(JSON.parse(readFileSync(join(runDir, "summary.json"), "utf8")).state, "finished");
      const events = clientEvents(runDir);
      assertGapless(events, runId);
      assertClose(stepLosses(events), expected, "losses of the run resumed after the node failure");
      assert.deepEqual(await activeJobs([job!]), []);
    } finally {
      await execa("ip", ["link", "set", link, "up"], { reject: false });
      if (child.exitCode === null) child.kill("SIGINT");
    }
  });
});
