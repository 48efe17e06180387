// Sweep expansion: the cartesian product of sweep.grid, one fully validated experiment per
// combination, with run ids that depend only on the name and the overrides, so re-running a
// sweep finds the runs it already finished.
import { createHash } from "node:crypto";
import { clone, isPlainObject } from "./defaults.js";
import { ExperimentError, type ExperimentIssue } from "./errors.js";
import { gridIssues } from "./grid.js";
import { resolveExperiment } from "./resolve.js";
import type { ResolvedExperiment } from "./schema.js";

export interface SweepRun {
  runId: string;
  /** Dotted path -> value, in grid key order; {} for an experiment without a grid. */
  overrides: Record<string, unknown>;
  /** The experiment of this run alone: overrides applied, `sweep` removed. */
  experiment: ResolvedExperiment;
}

const MAX_ID = 128;

export const shortHash = (v: unknown): string =>
  createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 8);

function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/\.{2,}/g, ".");
}

// One readable token per override: strings speak for themselves ("bilevel"), numbers carry
// their field name ("seed1", "lr0.1"), booleans read as flags ("compile" / "noCompile").
function token(path: string, value: unknown): string {
  const leaf = path.slice(path.lastIndexOf(".") + 1);
  if (typeof value === "string") return value || `${leaf}Empty`;
  if (typeof value === "number") return `${leaf}${value}`;
  if (typeof value === "boolean") return value ? leaf : `no${leaf[0]!.toUpperCase()}${leaf.slice(1)}`;
  if (Array.isArray(value) && value.every((x) => typeof x === "number" || typeof x === "string")) {
    return `${leaf}${value.length ? value.join("x") : "None"}`;
  }
  return `${leaf}${shortHash(value)}`;
}

/** `${name}-${slug}` of the overrides, sanitised and at most 128 characters. */
export function sweepRunId(name: string, overrides: Record<string, unknown>): string {
  const slug = Object.entries(overrides).map(([k, v]) => sanitize(token(k, v))).join("-");
  const id = slug ? `${name}-${slug}` : name;
  return id.length <= MAX_ID ? id : withHash(id, overrides);
}

function withHash(id: string, overrides: Record<string, unknown>): string {
  const h = `-${shortHash(overrides)}`;
  return id.slice(0, MAX_ID - h.length).replace(/[.]+$/, "") + h;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let cur = target;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = clone(value);
}

function product(entries: [string, unknown[]][]): Record<string, unknown>[] {
  // First key varies slowest, as nested loops written in file order would.
  let combos: Record<string, unknown>[] = [{}];
  for (const [key, values] of entries) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  return combos;
}

/** Every run of an experiment; exactly one (runId = name) when there is no grid. */
export function expandSweep(resolved: ResolvedExperiment, opts: { source?: string } = {}): SweepRun[] {
  const source = opts.source ?? "experiment";
  const grid = resolved.sweep?.grid ?? {};
  const bad = gridIssues(grid);
  if (bad.length) throw new ExperimentError({ kind: "invalid", source, issues: bad });

  const { sweep: _sweep, ...base } = resolved;
  const issues: ExperimentIssue[] = [];
  const runs: SweepRun[] = [];
  for (const overrides of product(Object.entries(grid))) {
    const input = clone(base) as Record<string, unknown>;
    for (const [k, v] of Object.entries(overrides)) setPath(input, k, v);
    const runId = sweepRunId(resolved.name, overrides);
    try {
      runs.push({ runId, overrides, experiment: resolveExperiment(input, { source }) });
    } catch (e) {
      if (!(e instanceof ExperimentError)) throw e;
      // Only combinations can fail here (each value alone passed gridIssues): say which.
      for (const i of e.issues) issues.push({ ...i, expected: `${i.expected} (in sweep run ${runId})` });
    }
  }
  if (issues.length) throw new ExperimentError({ kind: "invalid", source, issues });

  // Distinct values can still sanitise to the same id ("cuda:0" / "cuda_0"): hash those.
  const count = new Map<string, number>();
  for (const r of runs) count.set(r.runId, (count.get(r.runId) ?? 0) + 1);
  for (const r of runs) if (count.get(r.runId)! > 1) r.runId = withHash(r.runId, r.overrides);
  return runs;
}
