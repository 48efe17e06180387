// The code a run was made with: the orchestrator's git commit and whether the code that trains
// and evaluates (src, the worker's package, the contract) had uncommitted changes. Recorded in
// spec.json so a study can show that all its runs share one revision (docs/verdict).
import { execFileSync } from "node:child_process";
import { projectRoot } from "../workers/paths.js";
import type { CodeRevisionRecord } from "../runs/types.js";

const CODE_PATHS = ["src", "python_worker/projhead_worker", "python_worker/projhead", "proto", "python_worker/uv.lock", "package-lock.json"];

let cached: CodeRevisionRecord | null | undefined;

/** null outside a git checkout (an installed package records no revision). */
export function codeRevision(): CodeRevisionRecord | null {
  if (cached !== undefined) return cached;
  const git = (...args: string[]) => execFileSync("git", ["-C", projectRoot(), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const commit = git("rev-parse", "HEAD");
    const dirty = git("status", "--porcelain", "--untracked-files=no", "--", ...CODE_PATHS) !== "";
    cached = { commit, dirty };
  } catch {
    cached = null;
  }
  return cached;
}
