// Runs the real CLI (TypeScript sources through tsx) as a child process, as a user would.
import { execa, type Options } from "execa";
import { join } from "node:path";
import { projectRoot } from "../../src/workers/paths.js";

export const ROOT = projectRoot();

export function cli(args: string[], opts: Options = {}) {
  return execa(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), ...args], { reject: false, cwd: ROOT, ...opts });
}

/** The JSON document on the last non-empty stdout line. */
export function lastJson<T = Record<string, unknown>>(stdout: unknown): T {
  const lines = String(stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!) as T;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls cond; `what` names it in the error (a function: worded at the time-out, e.g. with the output so far). */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "function" ? what() : what}`);
}
