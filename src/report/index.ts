// buildReport: run/sweep directories in, terminal text + a self-contained HTML file + JSON out.
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { METHODS } from "../experiment/schema.js";
import { aggregate, DEFAULT_BASELINE, type Aggregate, type Comparison, type GroupAggregate } from "./aggregate.js";
import { chartSpecs } from "./charts.js";
import { ReportInputError } from "./errors.js";
import { renderHtml } from "./html.js";
import { writeFileAtomic } from "../util/atomic.js";
import { loadReportData } from "./load.js";
import type { LayerEval, ReportData, RunData, SweepData } from "./model.js";
import { buildTables, renderText } from "./table.js";

export interface BuildReportOptions {
  /** HTML path, or an existing directory to write report.html into. Default: see reportPath. */
  out?: string;
  /** false: skip the HTML file (htmlPath is then null). */
  html?: boolean;
  /** ANSI styling in `text`; default: stdout is a TTY and NO_COLOR is unset. */
  color?: boolean;
  /** Method the others are compared with, seed by seed; default: the sweep's report.baseline, else joint. */
  baseline?: string;
  /** Clock for the header (tests). */
  now?: Date;
}

/** What `projhead report --json` prints: everything but the loss/kNN curves and per-run spectra. */
export interface ReportJson {
  generatedAt: string;
  htmlPath: string | null;
  layers: string[];
  /** The method every comparison is against. */
  baseline: string;
  groups: GroupAggregate[];
  /** Per method group: the paired differences to the baseline, per layer and metric. */
  comparisons: Comparison[];
  runs: (Omit<RunData, "stepCurve" | "epochCurve" | "eval"> & {
    group: string;
    evalSource: RunData["evalSource"];
    layers: Omit<LayerEval, "singularValues">[];
  })[];
  sweeps: SweepData[];
  warnings: string[];
}

export interface ReportResult {
  text: string;
  htmlPath: string | null;
  data: ReportData;
  aggregate: Aggregate;
  json: ReportJson;
}

/**
 * Default HTML location: next to the single run or sweep it describes, else ./report.html.
 * An explicit `out` that is a directory gets report.html inside it.
 */
export async function reportPath(paths: string[], out?: string): Promise<string> {
  if (out) {
    const s = await stat(out).catch(() => null);
    return s?.isDirectory() ? join(resolve(out), "report.html") : resolve(out);
  }
  return paths.length === 1 ? join(resolve(paths[0]!), "report.html") : resolve("report.html");
}

function toJson(data: ReportData, agg: Aggregate, htmlPath: string | null): ReportJson {
  return {
    generatedAt: data.generatedAt,
    htmlPath,
    layers: agg.layers,
    baseline: agg.baseline,
    groups: agg.groups,
    comparisons: agg.comparisons,
    runs: data.runs.map(({ stepCurve: _s, epochCurve: _e, eval: ev, ...r }) => ({
      ...r,
      group: agg.groups.find((g) => g.key === agg.groupOf[r.runId])?.label ?? r.method,
      layers: (ev?.layers ?? []).map(({ singularValues: _sv, ...l }) => l),
    })),
    sweeps: data.sweeps,
    warnings: data.warnings,
  };
}

/** Every path must be there before anything is read or written. */
async function checkInput(paths: string[], baseline: string | undefined): Promise<void> {
  if (!paths.length) throw new ReportInputError("paths", "report: name at least one run or sweep directory");
  for (const p of paths) {
    const s = await stat(p).catch(() => null);
    if (!s) throw new ReportInputError(p, `report: ${p}: no such directory (expected a run directory, a sweep directory or a folder of them)`);
    if (!s.isDirectory()) throw new ReportInputError(p, `report: ${p}: not a directory (expected a run directory, a sweep directory or a folder of them)`);
  }
  if (baseline !== undefined && !(METHODS as readonly string[]).includes(baseline)) {
    throw new ReportInputError("--baseline", `report: --baseline "${baseline}": expected one of ${METHODS.join(", ")}`);
  }
}

/** The flag, else the sweeps' report.baseline (the first when they disagree), else joint. */
function resolveBaseline(data: ReportData, flag: string | undefined): string {
  if (flag) return flag;
  const named = [...new Set(data.sweeps.map((s) => s.baseline).filter((b): b is string => !!b))];
  if (named.length > 1) data.warnings.push(`sweeps name different baselines (${named.join(", ")}); comparing with ${named[0]}`);
  return named[0] ?? DEFAULT_BASELINE;
}

export async function buildReport(paths: string[], opts: BuildReportOptions = {}): Promise<ReportResult> {
  await checkInput(paths, opts.baseline);
  const data = await loadReportData(paths, opts.now);
  const agg = aggregate(data, { baseline: resolveBaseline(data, opts.baseline) });
  const tables = buildTables(data, agg);
  const color = opts.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const htmlPath = opts.html === false ? null : await reportPath(paths, opts.out);
  const json = toJson(data, agg, htmlPath);
  if (htmlPath) writeFileAtomic(htmlPath, renderHtml(data, agg, tables, chartSpecs(data, agg), json));
  let text = renderText(data, agg, tables, color);
  if (htmlPath) text += `\nHTML report: ${htmlPath}\n`;
  return { text, htmlPath, data, aggregate: agg, json };
}

export { aggregate, meanStd, compareLayers, layerRank, METHOD_ORDER, DEFAULT_BASELINE } from "./aggregate.js";
export type {
  Aggregate,
  Comparison,
  GroupAggregate,
  GroupDynamics,
  LayerAggregate,
  LayerMetric,
  PairedLayer,
  Stat,
} from "./aggregate.js";
export { pairedDifference, tQuantile, CONFIDENCE } from "./stats.js";
export type { Interval, PairedStat, Verdict } from "./stats.js";
export { ReportInputError } from "./errors.js";
export { chartSpecs } from "./charts.js";
export type { ChartSpec } from "./charts.js";
export { renderHtml } from "./html.js";
export { loadReportData, loadRun } from "./load.js";
export type { ReportData, RunData, SweepData, StepPoint, EpochPoint, DynamicsPoint, DynamicsLayer } from "./model.js";
export { buildTables, renderText, renderTextTable, fmtStat, fmtPct } from "./table.js";
export type { Table, Cell } from "./table.js";
