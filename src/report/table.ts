// The report's tables, in reading order, and their plain-text rendering for the terminal (the
// model and number formats: cells.ts; the paired comparisons: paired.ts; the floors: floorTables.ts).
import {
  compareLayers,
  layerStat,
  type Aggregate,
  type GroupAggregate,
  type LayerAggregate,
  type LayerMetric,
  type Stat,
  type ValMetric,
} from "./aggregate.js";
import { EVAL_FLAGS, flagNotes, flagsFor, marksOf } from "./flags.js";
import { floorTable, gainTable } from "./floorTables.js";
import { pairedTables, primaryTable, seedTable, type PairedOptions } from "./paired.js";
import type { ReportData, RunData } from "./model.js";
import { fmtCount, fmtDuration, fmtPct, fmtStat, groupCells, MISSING, notes, UNTRAINED, UNTRAINED_NOTE, type Cell, type Table } from "./cells.js";

export { fmtCount, fmtDuration, fmtPct, fmtSigned, fmtStat, MISSING, UNTRAINED, UNTRAINED_NOTE } from "./cells.js";
export type { Cell, Table } from "./cells.js";

function layerHeader(agg: Aggregate, layer: string): string {
  // Show the width when every group agrees on it: "h (512)".
  const dims = new Set(agg.groups.map((g) => g.layers.find((l) => l.layer === layer)?.dim).filter((d) => d));
  return dims.size === 1 ? `${layer} (${[...dims][0]})` : layer;
}

interface MetricSpec {
  id: string;
  metric: LayerMetric | ValMetric;
  title: string;
  digits: number;
  scale: number;
  higherIsBetter: boolean;
}

const METRIC_TABLES: MetricSpec[] = [
  { id: "linear", metric: "linearTop1", title: "Linear probe top-1 (%)", digits: 1, scale: 100, higherIsBetter: true },
  { id: "knn", metric: "knnTop1", title: "kNN top-1 (%)", digits: 1, scale: 100, higherIsBetter: true },
  { id: "erank", metric: "effectiveRank", title: "Effective rank (RankMe)", digits: 1, scale: 1, higherIsBetter: false },
];

/** The selection split's table: what screening reads to pick finalists (never the test split). */
export const VALIDATION_TABLE: MetricSpec = {
  id: "linear-val",
  metric: "linearValTop1",
  title: "Validation (selection split): linear probe top-1 (%) at the chosen L2",
  digits: 1,
  scale: 100,
  higherIsBetter: true,
};

const STAT_NOTE = "mean ± sample std [95 % t-interval of the mean] over seeds; n = evaluated runs";
const RANKME_NOTE =
  "RankMe (Garrido et al. 2023): exp of the entropy of the normalised singular values of the embedding matrix";
const INIT_NOTE = "h@init = kNN top-1 of h at random initialisation (the kNN monitor before the first step)";

function untrainedCell(g: GroupAggregate, layer: string): Cell | null {
  return g.untrainedLayers.includes(layer) ? { text: UNTRAINED, muted: true } : null;
}

/** Rows: method groups; columns: layers from backbone to z; cells "mean ± std" over seeds. */
export function metricTable(agg: Aggregate, spec: MetricSpec): Table {
  const best = new Map<string, number>();
  if (spec.higherIsBetter) {
    for (const layer of agg.layers) {
      const means = agg.groups.map((g) => layerStat(g, layer, spec.metric)?.mean ?? -Infinity);
      best.set(layer, Math.max(...means));
    }
  }
  const withInit = spec.metric === "knnTop1" && agg.groups.some((g) => g.initialKnnTop1);
  const flagged = (la: LayerAggregate | undefined) => (la ? flagsFor(EVAL_FLAGS.filter((f) => la[f.flag] > 0).map((f) => f.flag), spec.metric) : []);
  const marks = (g: GroupAggregate, layer: string) => marksOf(flagged(g.layers.find((l) => l.layer === layer)));
  const shown = agg.groups.flatMap((g) => g.layers.filter((l) => !g.untrainedLayers.includes(l.layer)).flatMap(flagged));
  const untrained = agg.groups.some((g) => agg.layers.some((l) => g.untrainedLayers.includes(l)));
  return {
    id: spec.id,
    title: spec.title,
    note: notes(
      STAT_NOTE,
      withInit && INIT_NOTE,
      spec.metric === "effectiveRank" && RANKME_NOTE,
      untrained && UNTRAINED_NOTE,
      ...flagNotes(shown),
      spec.higherIsBetter && "best per layer in bold",
    ),
    header: ["method", "n", ...(withInit ? ["h@init"] : []), ...agg.layers.map((l) => layerHeader(agg, l))],
    align: ["l", "r", ...(withInit ? ["r" as const] : []), ...agg.layers.map(() => "r" as const)],
    rows: agg.groups.map((g) => [
      ...groupCells(g),
      ...(withInit ? [{ text: fmtStat(g.initialKnnTop1, 1, 100, { ci: false }), muted: true }] : []),
      ...agg.layers.map((layer): Cell => {
        const u = untrainedCell(g, layer);
        if (u) return u;
        const s = layerStat(g, layer, spec.metric);
        const isBest = agg.groups.length > 1 && s !== null && s.mean === best.get(layer);
        return { text: fmtStat(s, spec.digits, spec.scale) + (s ? marks(g, layer) : ""), muted: !s, best: isBest };
      }),
    ]),
  };
}

/** Alignment and uniformity (Wang & Isola; lower is better for both), means only to stay narrow. */
export function alignUniformTable(agg: Aggregate): Table {
  const untrained = agg.groups.some((g) => agg.layers.some((l) => g.untrainedLayers.includes(l)));
  return {
    id: "alignuniform",
    title: "Alignment / uniformity",
    note: notes("mean over seeds; lower is better for both", untrained && UNTRAINED_NOTE),
    header: ["method", "n", ...agg.layers],
    align: ["l", "r", ...agg.layers.map(() => "r" as const)],
    rows: agg.groups.map((g) => [
      ...groupCells(g),
      ...agg.layers.map((layer): Cell => {
        const none = untrainedCell(g, layer);
        if (none) return none;
        const a = layerStat(g, layer, "alignment");
        const u = layerStat(g, layer, "uniformity");
        if (!a && !u) return { text: MISSING, muted: true };
        const f = (s: Stat | null) => (s ? s.mean.toFixed(3) : MISSING);
        return { text: `${f(a)} / ${f(u)}` };
      }),
    ]),
  };
}

/** Equal-compute accounting next to the accuracy it bought (means over the group's runs). */
export function computeTable(agg: Aggregate): Table | null {
  // Runs from before the worker counted compute have none of it: no table of dashes.
  const has = (g: GroupAggregate) =>
    [g.compute.trainSeconds, g.compute.imagesSeen, g.compute.optimizerSteps, g.compute.innerHeadSteps].some((s) => s !== null);
  if (!agg.groups.some(has)) return null;
  const ratio = new Map(agg.comparisons.map((c) => [c.groupKey, c.trainTimeRatio]));
  const linearH = (g: GroupAggregate) => layerStat(g, "h", "linearTop1");
  return {
    id: "compute",
    title: "Compute and accuracy",
    note: notes(
      "means over the finished runs; train time = training wall time without start-up and evaluation",
      `× ${agg.baseline} = train time over that of the ${agg.baseline} runs with the same settings`,
      "inner head steps: bilevel's head-only steps (counted apart from the optimizer steps)",
      "kNN % = kNN monitor of h, at random init → at the end",
    ),
    header: ["method", "runs", "train time", `× ${agg.baseline}`, "images seen", "optimizer steps", "inner head steps", "linear h %", "kNN %"],
    align: ["l", "r", "r", "r", "r", "r", "r", "r", "r"],
    rows: agg.groups.map((g) => {
      const r = ratio.get(g.key);
      const lin = linearH(g);
      const init = g.initialKnnTop1 ? `${fmtPct(g.initialKnnTop1.mean)} → ` : "";
      return [
        { text: g.label, color: g.color },
        { text: String(g.compute.runs) },
        { text: fmtDuration(g.compute.trainSeconds?.mean ?? null), muted: !g.compute.trainSeconds },
        g.method === agg.baseline
          ? { text: "ref", muted: true }
          : { text: r === null || r === undefined ? MISSING : `${r.toFixed(2)}×`, muted: r === null || r === undefined },
        { text: fmtCount(g.compute.imagesSeen?.mean), muted: !g.compute.imagesSeen },
        { text: fmtCount(g.compute.optimizerSteps?.mean), muted: !g.compute.optimizerSteps },
        { text: fmtCount(g.compute.innerHeadSteps?.mean), muted: !g.compute.innerHeadSteps?.mean },
        { text: lin ? fmtPct(lin.mean) : MISSING, muted: !lin },
        { text: g.knnTop1 ? init + fmtPct(g.knnTop1.mean) : MISSING, muted: !g.knnTop1 },
      ];
    }),
  };
}

/** At most this many epochs in the terminal's dynamics table: the first, the last, evenly between. */
export const MAX_DYNAMICS_ROWS = 21;

function pickEpochs<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const idx = new Set(Array.from({ length: max }, (_, i) => Math.round((i * (points.length - 1)) / (max - 1))));
  return points.filter((_, i) => idx.has(i));
}

/** One run's layer dynamics: epoch × layer, "kNN % / RankMe" per cell. */
export function dynamicsTable(run: RunData): Table | null {
  if (!run.dynamics.length) return null;
  const layers = [...new Set(run.dynamics.flatMap((p) => p.layers.map((l) => l.layer)))].sort(compareLayers);
  if (!layers.length) return null;
  const shown = pickEpochs(run.dynamics, MAX_DYNAMICS_ROWS);
  const size = run.dynamics[0]!.subsetSize;
  return {
    id: "dynamics",
    title: `Layer dynamics of ${run.runId}: kNN top-1 % / RankMe`,
    note: notes(
      `measured during training on a fixed subset${size ? ` of ${size} images` : ""}; epoch 0 = before the first step`,
      shown.length < run.dynamics.length && `${shown.length} of ${run.dynamics.length} measurements shown (all in the HTML report and --json)`,
      run.untrainedLayers.length > 0 && `${run.untrainedLayers.join(", ")} not trained by ${run.method}: not shown`,
    ),
    header: ["epoch", "step", ...layers],
    align: ["r", "r", ...layers.map(() => "r" as const)],
    rows: shown.map((p) => [
      { text: String(p.epoch) },
      { text: String(p.step) },
      ...layers.map((layer): Cell => {
        const l = p.layers.find((x) => x.layer === layer);
        if (!l) return { text: MISSING, muted: true };
        const rank = l.effectiveRank === null ? MISSING : l.effectiveRank.toFixed(1);
        return { text: `${fmtPct(l.knnTop1)} / ${rank}` };
      }),
    ]),
  };
}

function orderedRuns(data: ReportData, agg: Aggregate): RunData[] {
  const rank = new Map(agg.groups.map((g, i) => [g.key, i]));
  return [...data.runs].sort(
    (a, b) =>
      (rank.get(agg.groupOf[a.runId]!) ?? 0) - (rank.get(agg.groupOf[b.runId]!) ?? 0) ||
      (a.seed ?? 0) - (b.seed ?? 0) ||
      a.runId.localeCompare(b.runId),
  );
}

/** One row per run: where it got to, its final loss and its last kNN monitor value. */
export function runTable(data: ReportData, agg: Aggregate): Table {
  const groups = new Map(agg.groups.map((g) => [g.key, g]));
  const withVariant = agg.groups.some((g) => Object.keys(g.overrides).length);
  const withNote = data.runs.some((r) => r.error);
  const header = ["run", "group", "seed", "state", "epoch", "step", "final loss", "init kNN %", "kNN %", "eval", "wall"];
  if (withNote) header.push("note");
  return {
    id: "runs",
    title: "Runs",
    note: notes(
      "final loss = InfoNCE of the last logged batch with the parameters as they came into the step (every method alike)",
      "init kNN % = kNN monitor of h at random initialisation; kNN % = the last kNN monitor",
      "eval = layers evaluated",
    ),
    header,
    align: ["l", "l", "r", "l", "r", "r", "r", "r", "r", "r", "r", "l"],
    rows: orderedRuns(data, agg).map((r) => {
      const g = groups.get(agg.groupOf[r.runId]!);
      const row: Cell[] = [
        { text: r.runId },
        { text: withVariant ? (g?.label ?? r.method) : r.method, ...(g ? { color: g.color } : {}) },
        { text: r.seed === null ? MISSING : String(r.seed), muted: r.seed === null },
        { text: r.state, bad: r.state === "failed", muted: r.state === "unknown" },
        { text: String(r.epochs) },
        { text: String(r.steps) },
        { text: r.finalLoss === null ? MISSING : r.finalLoss.toFixed(4), muted: r.finalLoss === null },
        { text: fmtPct(r.initialKnnTop1), muted: true },
        { text: fmtPct(r.knnTop1), muted: r.knnTop1 === null },
        { text: r.eval?.layers.length ? String(r.eval.layers.length) : MISSING, muted: !r.eval },
        { text: fmtDuration(r.wallSeconds), muted: r.wallSeconds === null },
      ];
      if (withNote) row.push({ text: truncate(r.error ?? "", 70), bad: !!r.error });
      return row;
    }),
  };
}

function truncate(s: string, n: number): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > n ? one.slice(0, n - 1) + "…" : one;
}

/**
 * The kNN table's title with the k and τ the evaluations recorded (eval.json's protocol; runs
 * from before it used k = 200); settings that differ between runs are all named.
 */
export function knnTitle(data: ReportData): string {
  const p = data.runs.flatMap((r) => (r.eval?.protocol ? [`k=${r.eval.protocol.knnK}, τ=${r.eval.protocol.knnTemperature}`] : []));
  const settings = [...new Set(p)].sort();
  return settings.length > 1 ? `kNN top-1 (%), settings differ between runs: ${settings.join(" / ")}` : `kNN top-1 (%), ${settings[0] ?? "k=200"}`;
}

/** Every table of the report, in reading order. Metric tables only when something was evaluated. */
export function buildTables(data: ReportData, agg: Aggregate, opts: PairedOptions = {}): Table[] {
  const tables: (Table | null)[] = [];
  if (agg.layers.length) {
    const withVal = agg.groups.some((g) => g.layers.some((l) => l.stats.linearValTop1));
    tables.push(
      primaryTable(agg, opts),
      ...METRIC_TABLES.map((s) => metricTable(agg, s.metric === "knnTop1" ? { ...s, title: knnTitle(data) } : s)),
      floorTable(agg),
      gainTable(agg),
      withVal ? metricTable(agg, VALIDATION_TABLE) : null,
      alignUniformTable(agg),
      ...pairedTables(agg, opts),
      seedTable(agg),
    );
  }
  tables.push(computeTable(agg));
  if (data.runs.length === 1) tables.push(dynamicsTable(data.runs[0]!));
  tables.push(runTable(data, agg));
  return tables.filter((t): t is Table => t !== null);
}

/** Notes wrap at this width, between their "; "-separated parts. */
const NOTE_WIDTH = 110;

/** "(a; b; c)" over as many lines as the width needs, breaking only between parts. */
function wrapParts(parts: string[], width: number): string[] {
  if (!parts.length) return [];
  const out: string[] = [];
  let cur = "(";
  parts.forEach((p, i) => {
    const piece = p + (i === parts.length - 1 ? ")" : ";");
    if (cur.length > 1 && cur.length + 1 + piece.length > width) {
      out.push(cur);
      cur = " " + piece;
    } else {
      cur += (cur.length > 1 ? " " : "") + piece;
    }
  });
  out.push(cur);
  return out;
}

const ansi = (code: string, s: string) => `\x1b[${code}m${s}\x1b[0m`;

/** Aligned plain text; ANSI styling only when `color` (the caller decides: TTY and no NO_COLOR). */
export function renderTextTable(t: Table, color = false): string {
  const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r[i]?.text.length ?? 0)));
  const pad = (s: string, i: number) => (t.align[i] === "r" ? s.padStart(widths[i]!) : s.padEnd(widths[i]!));
  const style = (c: Cell, s: string) => {
    if (!color) return s;
    if (c.bad) return ansi("31", s);
    if (c.best) return ansi("1", s);
    if (c.muted) return ansi("2", s);
    return s;
  };
  const head = t.header.map((h, i) => pad(h, i)).join("  ").trimEnd();
  const lines = [
    color ? ansi("1", t.title) : t.title,
    color ? ansi("1", head) : head,
    widths.map((w) => "-".repeat(w)).join("  "),
    ...t.rows.map((r) =>
      r
        .map((c, i) => style(c, pad(c.text, i)))
        .join("  ")
        .trimEnd(),
    ),
  ];
  // Without colour there is no bold: the note must not promise it.
  const parts = (t.note ?? "").split("; ").filter((p) => p && (color || p !== "best per layer in bold"));
  for (const l of wrapParts(parts, NOTE_WIDTH)) lines.push(color ? ansi("2", l) : l);
  return lines.join("\n");
}

/** `preamble`: lines under the head (the protocol and the code revisions). */
export function renderText(data: ReportData, agg: Aggregate, tables: Table[], color = false, preamble: string[] = []): string {
  const head = `projhead report: ${data.runs.length} run(s) in ${agg.groups.length} group(s)` +
    (data.sweeps.length ? `, sweeps: ${data.sweeps.map((s) => s.name).join(", ")}` : "");
  const parts = [[head, ...preamble].join("\n"), ...tables.map((t) => renderTextTable(t, color))];
  const methods = new Set(agg.groups.map((g) => g.method));
  if (agg.layers.length && methods.size > 1 && !methods.has(agg.baseline)) {
    parts.push(`No ${agg.baseline} runs: nothing to pair the other methods with (--baseline names another method).`);
  }
  if (!agg.layers.length && data.runs.length) {
    parts.push("No evaluations yet (eval.json); run `projhead eval`, or set train.evalAtEnd: true in the experiment.");
  }
  if (data.warnings.length) parts.push(["Warnings:", ...data.warnings.map((w) => `  ${w}`)].join("\n"));
  return parts.join("\n\n") + "\n";
}
