// Shared by the SLURM tests: whether the cluster answers (scripts/slurm-cluster.sh up [--nodes 2]
// starts it), the job ids a sweep printed, and which of them squeue still lists as active.
import { execa, execaSync } from "execa";
import { needOrSkip } from "../helpers/require.js";

function clusterAnswers(): boolean {
  try {
    return execaSync("sinfo", ["-h", "-o", "%T"], { reject: false, timeout: 10_000 }).stdout.trim().length > 0;
  } catch {
    return false;
  }
}

/** false when the cluster answers; the reason to skip otherwise (a failure under CI=true). */
export const noCluster = (): false | string => needOrSkip(clusterAnswers(), "a running SLURM cluster", "sudo scripts/slurm-cluster.sh up");

/** Job ids from the progress lines `slurm job N: SUBMITTED`. */
export function submittedJobs(stderr: string): string[] {
  return [...stderr.matchAll(/^slurm job (\d+): SUBMITTED$/gm)].map((m) => m[1]!);
}

/** Those of `ids` that squeue lists as pending, running or completing. */
export async function activeJobs(ids: string[]): Promise<string[]> {
  if (!ids.length) return [];
  const r = await execa("squeue", ["-h", "-t", "PENDING,RUNNING,COMPLETING,CONFIGURING,SUSPENDED,REQUEUED", "-j", ids.join(","), "-o", "%i"], { reject: false });
  return r.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
}

/** The settings every test job uses: one CPU and a little memory, so two jobs fit the node. */
export const SMALL_JOB = ["--cpus", "1", "--memory", "1500M"];

/** The cluster's node names, sorted (none when it does not answer). */
export function clusterNodes(): string[] {
  try {
    const out = execaSync("sinfo", ["-h", "-N", "-o", "%N"], { reject: false, timeout: 10_000 }).stdout;
    return [...new Set(out.split("\n").map((l) => l.trim()).filter(Boolean))].sort();
  } catch {
    return [];
  }
}

/** false when the cluster has two nodes or more; the reason to skip otherwise (a failure under CI=true). */
export const noTwoNodes = (): false | string =>
  needOrSkip(clusterNodes().length >= 2, "a SLURM cluster of two nodes or more", "sudo scripts/slurm-cluster.sh up --nodes 2");
