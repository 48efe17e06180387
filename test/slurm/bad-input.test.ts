// Bad input to the slurm runtime, on the real cluster (CI: two nodes): each fails with exit code 2 and
// a message naming the cause, and leaves no job behind.
import assert from "node:assert/strict";
import { execa } from "execa";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cli } from "../helpers/cli.js";
import { tinyYaml } from "../helpers/runs.js";
import { noCluster, SMALL_JOB } from "./cluster.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-slurm-bad-"));
const file = join(tmp, "exp.yaml");
writeFileSync(file, tinyYaml({ name: "slurm-bad", train: { epochs: 1 } }));
const immutable: string[] = [];
after(async () => {
  for (const d of immutable) await execa("chattr", ["-i", d], { reject: false });
  rmSync(tmp, { recursive: true, force: true });
});

const allJobs = async () => (await execa("squeue", ["-h", "-o", "%i"])).stdout.split("\n").filter(Boolean);

async function sweepFails(extra: string[], cause: RegExp, env?: Record<string, string>) {
  const before = await allJobs();
  const r = await cli(["sweep", file, "--slurm", ...SMALL_JOB, "--shared", join(tmp, "shared"), "--runs", join(tmp, "runs"), "--sweeps", join(tmp, "sweeps"), ...extra], env ? { env, extendEnv: false } : {});
  assert.equal(r.exitCode, 2, String(r.stderr));
  assert.match(String(r.stderr), cause);
  const left = (await allJobs()).filter((j) => !before.includes(j));
  assert.deepEqual(left, [], "no job left behind");
}

describe("slurm runtime: bad input", { skip: noCluster(), timeout: 120_000 }, () => {
  it("a partition that does not exist", async () => {
    await sweepFails(["--partition", "no-such-partition"], /sbatch refused the job: .*[Ii]nvalid partition/);
  });

  it("an account the partition does not know: held pending for it, then cancelled", async () => {
    // scripts/slurm-cluster.sh makes `restricted`, open to account "projhead" only.
    await sweepFails(["--partition", "restricted", "--account", "no-such-account"], /cannot start: Job's account not known.*\(cancelled\)/);
  });

  it("sbatch missing from PATH", async () => {
    const empty = join(tmp, "empty-bin");
    mkdirSync(empty, { recursive: true });
    await sweepFails([], /`sbatch` not found on PATH/, { PATH: empty, HOME: process.env.HOME ?? "/root" });
  });

  it("a shared folder that is not writable", async () => {
    const locked = join(tmp, "locked");
    mkdirSync(locked);
    const r = await execa("chattr", ["+i", locked], { reject: false });
    assert.equal(r.exitCode, 0, `chattr +i (needs root on ext4/xfs): ${r.stderr}`);
    immutable.push(locked);
    await sweepFails(["--shared", join(locked, "shared")], /runtime\.slurm\.shared: .*locked\/shared is not a writable folder \(EPERM\)/);
  });
});
