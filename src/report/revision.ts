// One code revision for every run of a study (DESIGN §10): the protocol's revision is the last
// commit that changed the protocol file, and every run's spec.json records the commit it was
// created from. The report prints them and, given a protocol, refuses runs of another revision.
import { execFileSync } from "node:child_process";
import { basename, dirname, resolve } from "node:path";
import { ReportInputError } from "./errors.js";
import type { RunData } from "./model.js";

function git(cwd: string, args: string[]): string {
  try {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  } catch (e) {
    throw new ReportInputError("--protocol", `report: --protocol: git ${args.join(" ")} failed in ${cwd} (${(e as Error).message.split("\n")[0]})`);
  }
}

/** The last commit that changed `file`; an error when it is not committed or has uncommitted changes. */
export function protocolRevision(file: string): string {
  const dir = dirname(resolve(file));
  const name = basename(file);
  const commit = git(dir, ["log", "-1", "--format=%H", "--", name]);
  if (!commit) throw new ReportInputError("--protocol", `report: --protocol ${file}: not committed (a protocol is committed before the first run)`);
  if (git(dir, ["status", "--porcelain", "--", name])) {
    throw new ReportInputError("--protocol", `report: --protocol ${file}: has uncommitted changes (commit it, or name the committed version)`);
  }
  return commit;
}

/** The runs of one code revision; commit null: the run did not record one. */
export interface RevisionGroup {
  commit: string | null;
  dirty: boolean;
  runIds: string[];
}

export function revisionLabel(r: { commit: string | null; dirty: boolean }): string {
  return r.commit === null ? "unknown (not recorded)" : r.commit.slice(0, 12) + (r.dirty ? " (dirty)" : "");
}

/** The distinct code revisions of the runs, most runs first. */
export function revisionsOf(runs: RunData[]): RevisionGroup[] {
  const by = new Map<string, RevisionGroup>();
  for (const r of runs) {
    const commit = r.codeRevision?.commit ?? null;
    const dirty = r.codeRevision?.dirty ?? false;
    const key = JSON.stringify([commit, dirty]);
    const g = by.get(key) ?? { commit, dirty, runIds: [] };
    g.runIds.push(r.runId);
    by.set(key, g);
  }
  return [...by.values()].sort((a, b) => b.runIds.length - a.runIds.length || revisionLabel(a).localeCompare(revisionLabel(b)));
}

/** One commit, whether either side wrote it in full or abbreviated (at least 7 hex digits). */
export function sameCommit(a: string, b: string): boolean {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  return Math.min(x.length, y.length) >= 7 && (x.startsWith(y) || y.startsWith(x));
}

/** The revision groups that are not the protocol's commit, clean. */
export function revisionMismatches(groups: RevisionGroup[], commit: string): RevisionGroup[] {
  return groups.filter((g) => g.commit === null || !sameCommit(g.commit, commit) || g.dirty);
}

/** "3 runs at 0123abcd (dirty): a, b, c" for each group, runs named (the first ten). */
export function describeRevisions(groups: RevisionGroup[]): string[] {
  return groups.map((g) => {
    const ids = g.runIds.length > 10 ? [...g.runIds.slice(0, 10), `… ${g.runIds.length - 10} more`] : g.runIds;
    return `${g.runIds.length} run(s) at ${revisionLabel(g)}: ${ids.join(", ")}`;
  });
}
