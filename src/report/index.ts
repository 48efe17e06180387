// buildReport: run/sweep directories in, terminal text + a self-contained HTML file + JSON out.
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { METHODS } from "../experiment/schema.js";
import { aggregate, DEFAULT_BASELINE, type Aggregate, type Comparison, type Families, type GroupAggregate, type PrimarySpec } from "./aggregate.js";
import { chartSpecs } from "./charts.js";
import { ReportInputError } from "./errors.js";
import { renderHtml } from "./html.js";
import { writeFileAtomic } from "../fsutil/atomic.js";
import { loadReportData } from "./load.js";
import type { LayerEval, ReportData, RunData, SweepData } from "./model.js";
import { loadProtocol, type Protocol } from "./protocol.js";
import { describeRevisions, protocolRevision, revisionLabel, revisionMismatches, revisionsOf, type RevisionGroup } from "./revision.js";
import { buildTables, renderText } from "./table.js";
import { metricName } from "./paired.js";

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
  /** A protocol file (protocol.ts): primary comparison, δ, α, power; its git revision is checked. */
  protocol?: string;
  /** Report runs whose code revision is not the protocol's (with a warning) instead of refusing. */
  allowRevisionMismatch?: boolean;
  /** δ in percentage points: print the seeds each paired cell needs to detect it (default: the protocol's delta). */
  mde?: number;
}

/** The protocol as the report used it. */
export interface ProtocolJson extends Omit<Protocol, "primarySpec"> {
  /** The last commit that changed the file. */
  revision: string;
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
  /** The declared primary comparison; every other cell is exploratory (Holm-adjusted). */
  primary: PrimarySpec;
  /** Sizes of the primary and exploratory Holm families, and α. */
  families: Families;
  /** Power of the minimum detectable effects. */
  power: number;
  /** The δ (percentage points) seeds were planned for, or null. */
  delta: number | null;
  protocol: ProtocolJson | null;
  /** The code revisions of the runs (spec.json's codeRevision). */
  codeRevisions: RevisionGroup[];
  runs: (Omit<RunData, "stepCurve" | "epochCurve" | "eval"> & {
    group: string;
    evalSource: RunData["evalSource"];
    layers: Omit<LayerEval, "singularValues">[];
    /** eval.json's floors ("pixels", "h@init"). */
    baselines: Omit<LayerEval, "singularValues">[];
    evalFormatVersion: number | null;
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

interface ReportContext {
  protocol: ProtocolJson | null;
  delta: number | null;
  codeRevisions: RevisionGroup[];
}

function toJson(data: ReportData, agg: Aggregate, htmlPath: string | null, ctx: ReportContext): ReportJson {
  const noSpectrum = (ls: LayerEval[]) => ls.map(({ singularValues: _sv, ...l }) => l);
  return {
    generatedAt: data.generatedAt,
    htmlPath,
    layers: agg.layers,
    baseline: agg.baseline,
    groups: agg.groups,
    comparisons: agg.comparisons,
    primary: agg.primary,
    families: agg.families,
    power: agg.power,
    ...ctx,
    runs: data.runs.map(({ stepCurve: _s, epochCurve: _e, eval: ev, ...r }) => ({
      ...r,
      group: agg.groups.find((g) => g.key === agg.groupOf[r.runId])?.label ?? r.method,
      layers: noSpectrum(ev?.layers ?? []),
      baselines: noSpectrum(ev?.baselines ?? []),
      evalFormatVersion: ev ? (ev.formatVersion ?? 1) : null,
    })),
    sweeps: data.sweeps,
    warnings: data.warnings,
  };
}

/** Every path must be there before anything is read or written. */
async function checkInput(paths: string[], baseline: string | undefined, mde: number | undefined): Promise<void> {
  if (mde !== undefined && !(Number.isFinite(mde) && mde > 0)) {
    throw new ReportInputError("--mde", `report: --mde ${mde}: expected an effect size in percentage points above 0`);
  }
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

/** The flag, else the protocol's primary baseline, else the sweeps' report.baseline (the first when they disagree), else joint. */
function resolveBaseline(data: ReportData, flag: string | undefined, protocol: Protocol | null): string {
  if (flag) return flag;
  if (protocol) return protocol.primary.baseline;
  const named = [...new Set(data.sweeps.map((s) => s.baseline).filter((b): b is string => !!b))];
  if (named.length > 1) data.warnings.push(`sweeps name different baselines (${named.join(", ")}); comparing with ${named[0]}`);
  return named[0] ?? DEFAULT_BASELINE;
}

/**
 * With a protocol, runs of another code revision (or dirty, or unrecorded) are refused unless
 * allowed, and then warned about; without one, more than one revision is a warning.
 */
function checkRevisions(data: ReportData, groups: RevisionGroup[], protocol: ProtocolJson | null, allow: boolean): void {
  if (!protocol) {
    if (groups.length > 1) data.warnings.push(`runs of ${groups.length} code revisions: ${describeRevisions(groups).join("; ")}`);
    return;
  }
  const bad = revisionMismatches(groups, protocol.revision);
  if (!bad.length) return;
  const what = `${bad.reduce((n, g) => n + g.runIds.length, 0)} run(s) not at the protocol's revision ${protocol.revision.slice(0, 12)} (${protocol.file})`;
  if (allow) {
    data.warnings.push(`${what}, reported as --allow-revision-mismatch asks: ${describeRevisions(bad).join("; ")}`);
    return;
  }
  throw new ReportInputError(
    "--protocol",
    [`report: ${what}:`, ...describeRevisions(bad).map((l) => `  ${l}`), "re-run them at the protocol's revision, or pass --allow-revision-mismatch"].join("\n"),
  );
}

/** The report's first lines: the protocol (or its absence) and the code revisions. */
function preamble(ctx: ReportContext, agg: Aggregate): string[] {
  const p = ctx.protocol;
  const pr = agg.primary;
  const lines = p
    ? [
        `Protocol ${p.name}: ${p.file} at ${p.revision.slice(0, 12)}; primary ${pr.method} − ${pr.baseline}, ${metricName(pr.metric)} at ${pr.layer}; δ ${p.delta} points, α ${p.alpha}, power ${p.power}`,
        `Selection: ${p.selection.split} split, ${p.selection.metric} at ${p.selection.layer}; seeds: screening ${p.seeds.screening.join(", ") || "-"}, finals ${p.seeds.finals.join(", ") || "-"}`,
      ]
    : [`No protocol (--protocol): primary comparison by default ${pr.method} − ${pr.baseline}, ${metricName(pr.metric)} at ${pr.layer}`];
  lines.push(`Code revision${ctx.codeRevisions.length > 1 ? "s" : ""}: ${ctx.codeRevisions.map((g) => `${revisionLabel(g)} (${g.runIds.length} run(s))`).join(", ") || "-"}`);
  return lines;
}

export async function buildReport(paths: string[], opts: BuildReportOptions = {}): Promise<ReportResult> {
  await checkInput(paths, opts.baseline, opts.mde);
  const loaded = opts.protocol ? loadProtocol(opts.protocol) : null;
  const protocol: ProtocolJson | null = loaded
    ? (({ primarySpec: _p, ...rest }) => ({ ...rest, revision: protocolRevision(loaded.file) }))(loaded)
    : null;
  const data = await loadReportData(paths, opts.now);
  const codeRevisions = revisionsOf(data.runs);
  checkRevisions(data, codeRevisions, protocol, opts.allowRevisionMismatch === true);
  const baseline = resolveBaseline(data, opts.baseline, loaded);
  if (loaded && baseline !== loaded.primary.baseline) {
    data.warnings.push(`the protocol's primary comparison is against ${loaded.primary.baseline}; compared with ${baseline}, every cell is exploratory`);
  }
  const agg = aggregate(data, {
    baseline,
    ...(loaded ? { primary: loaded.primarySpec, alpha: loaded.alpha, power: loaded.power } : {}),
  });
  const ctx: ReportContext = { protocol, delta: opts.mde ?? loaded?.delta ?? null, codeRevisions };
  const tables = buildTables(data, agg, { delta: ctx.delta });
  const color = opts.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const htmlPath = opts.html === false ? null : await reportPath(paths, opts.out);
  const json = toJson(data, agg, htmlPath, ctx);
  const lines = preamble(ctx, agg);
  if (htmlPath) writeFileAtomic(htmlPath, renderHtml(data, agg, tables, chartSpecs(data, agg), json, lines));
  let text = renderText(data, agg, tables, color, lines);
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
export { pairedDifference, tQuantile, CONFIDENCE, holm, mde, pairedP, seedsNeeded } from "./stats.js";
export { loadProtocol, parseProtocol } from "./protocol.js";
export type { Protocol } from "./protocol.js";
export type { Interval, PairedStat, Verdict } from "./stats.js";
export { ReportInputError } from "./errors.js";
export { chartSpecs } from "./charts.js";
export type { ChartSpec } from "./charts.js";
export { renderHtml } from "./html.js";
export { loadReportData, loadRun } from "./load.js";
export type { ReportData, RunData, SweepData, StepPoint, EpochPoint, DynamicsPoint, DynamicsLayer } from "./model.js";
export { buildTables, renderText, renderTextTable, fmtStat, fmtPct } from "./table.js";
export type { Table, Cell } from "./table.js";
