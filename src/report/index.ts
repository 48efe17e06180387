// buildReport: run/sweep directories in, terminal text + a self-contained HTML file + JSON out.
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { LayerEvalRecord } from "../runs/types.js";
import { aggregate, type Aggregate, type GroupAggregate } from "./aggregate.js";
import { chartSpecs } from "./charts.js";
import { renderHtml, writeAtomic } from "./html.js";
import { loadReportData } from "./load.js";
import type { ReportData, RunData, SweepData } from "./model.js";
import { buildTables, renderText } from "./table.js";

export interface BuildReportOptions {
  /** HTML path, or an existing directory to write report.html into. Default: see reportPath. */
  out?: string;
  /** false: skip the HTML file (htmlPath is then null). */
  html?: boolean;
  /** ANSI styling in `text`; default: stdout is a TTY and NO_COLOR is unset. */
  color?: boolean;
  /** Clock for the header (tests). */
  now?: Date;
}

/** What `projhead report --json` prints: everything but the curves and per-run spectra. */
export interface ReportJson {
  generatedAt: string;
  htmlPath: string | null;
  layers: string[];
  groups: GroupAggregate[];
  runs: (Omit<RunData, "stepCurve" | "epochCurve" | "eval"> & {
    group: string;
    evalSource: RunData["evalSource"];
    layers: Omit<LayerEvalRecord, "singularValues">[];
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
    groups: agg.groups,
    runs: data.runs.map(({ stepCurve: _s, epochCurve: _e, eval: ev, ...r }) => ({
      ...r,
      group: agg.groups.find((g) => g.key === agg.groupOf[r.runId])?.label ?? r.method,
      layers: (ev?.layers ?? []).map(({ singularValues: _sv, ...l }) => l),
    })),
    sweeps: data.sweeps,
    warnings: data.warnings,
  };
}

export async function buildReport(paths: string[], opts: BuildReportOptions = {}): Promise<ReportResult> {
  const data = await loadReportData(paths, opts.now);
  const agg = aggregate(data);
  const tables = buildTables(data, agg);
  const color = opts.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const htmlPath = opts.html === false ? null : await reportPath(paths, opts.out);
  const json = toJson(data, agg, htmlPath);
  if (htmlPath) await writeAtomic(htmlPath, renderHtml(data, agg, tables, chartSpecs(data, agg), json));
  let text = renderText(data, agg, tables, color);
  if (htmlPath) text += `\nHTML report: ${htmlPath}\n`;
  return { text, htmlPath, data, aggregate: agg, json };
}

export { aggregate, meanStd, compareLayers, layerRank, METHOD_ORDER } from "./aggregate.js";
export type { Aggregate, GroupAggregate, LayerAggregate, LayerMetric, Stat } from "./aggregate.js";
export { chartSpecs } from "./charts.js";
export type { ChartSpec } from "./charts.js";
export { renderHtml, writeAtomic } from "./html.js";
export { loadReportData, loadRun } from "./load.js";
export type { ReportData, RunData, SweepData, StepPoint, EpochPoint } from "./model.js";
export { buildTables, renderText, renderTextTable, fmtStat, fmtPct } from "./table.js";
export type { Table, Cell } from "./table.js";
