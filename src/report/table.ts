// Report tables as a small model (title, header, cells) rendered two ways: aligned plain text
// for the terminal here, HTML in html.ts. One model keeps the two views in agreement.
import { layerStat, type Aggregate, type GroupAggregate, type LayerMetric, type Stat } from "./aggregate.js";
import type { ReportData, RunData } from "./model.js";

export interface Cell {
  text: string;
  /** Best value of its column (higher accuracy); bold in a TTY and in HTML. */
  best?: boolean;
  /** Missing / not applicable; dimmed. */
  muted?: boolean;
  /** Failed run or similar; red in a TTY. */
  bad?: boolean;
  /** Group colour, as a swatch in HTML. */
  color?: string;
}

export interface Table {
  id: string;
  title: string;
  note?: string;
  header: string[];
  align: ("l" | "r")[];
  rows: Cell[][];
}

export const MISSING = "-";

export function fmtPct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? MISSING : (x * 100).toFixed(1);
}

/** "mean ± std" with `digits` decimals; the std is left out for a single seed. */
export function fmtStat(s: Stat | null, digits: number, scale = 1): string {
  if (!s) return MISSING;
  const m = (s.mean * scale).toFixed(digits);
  return s.std === null ? m : `${m} ± ${(s.std * scale).toFixed(digits)}`;
}

export function fmtDuration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return MISSING;
  if (sec < 60) return `${sec.toFixed(1)}s`;
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.round(sec % 60);
  return h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(s).padStart(2, "0")}s`;
}

function layerHeader(agg: Aggregate, layer: string): string {
  // Show the width when every group agrees on it: "h (512)".
  const dims = new Set(agg.groups.map((g) => g.layers.find((l) => l.layer === layer)?.dim).filter((d) => d));
  return dims.size === 1 ? `${layer} (${[...dims][0]})` : layer;
}

function groupCells(g: GroupAggregate): Cell[] {
  return [
    { text: g.label, color: g.color },
    { text: String(g.evaluated), muted: g.evaluated === 0 },
  ];
}

interface MetricSpec {
  id: string;
  metric: LayerMetric;
  title: string;
  digits: number;
  scale: number;
  higherIsBetter: boolean;
}

const METRIC_TABLES: MetricSpec[] = [
  { id: "linear", metric: "linearTop1", title: "Linear probe top-1 (%)", digits: 1, scale: 100, higherIsBetter: true },
  { id: "knn", metric: "knnTop1", title: "kNN top-1 (%), k=200", digits: 1, scale: 100, higherIsBetter: true },
  { id: "erank", metric: "effectiveRank", title: "Effective rank", digits: 1, scale: 1, higherIsBetter: false },
];

/** Rows: method groups; columns: layers from backbone to z; cells "mean ± std" over seeds. */
export function metricTable(agg: Aggregate, spec: MetricSpec): Table {
  const best = new Map<string, number>();
  if (spec.higherIsBetter) {
    for (const layer of agg.layers) {
      const means = agg.groups.map((g) => layerStat(g, layer, spec.metric)?.mean ?? -Infinity);
      best.set(layer, Math.max(...means));
    }
  }
  return {
    id: spec.id,
    title: spec.title,
    note: "mean ± sample std over seeds; n = evaluated runs" + (spec.higherIsBetter ? "; best per layer in bold" : ""),
    header: ["method", "n", ...agg.layers.map((l) => layerHeader(agg, l))],
    align: ["l", "r", ...agg.layers.map(() => "r" as const)],
    rows: agg.groups.map((g) => [
      ...groupCells(g),
      ...agg.layers.map((layer): Cell => {
        const s = layerStat(g, layer, spec.metric);
        const isBest = agg.groups.length > 1 && s !== null && s.mean === best.get(layer);
        return { text: fmtStat(s, spec.digits, spec.scale), muted: !s, best: isBest };
      }),
    ]),
  };
}

/** Alignment and uniformity (Wang & Isola; lower is better for both), means only to stay narrow. */
export function alignUniformTable(agg: Aggregate): Table {
  return {
    id: "alignuniform",
    title: "Alignment / uniformity",
    note: "mean over seeds; lower is better for both",
    header: ["method", "n", ...agg.layers],
    align: ["l", "r", ...agg.layers.map(() => "r" as const)],
    rows: agg.groups.map((g) => [
      ...groupCells(g),
      ...agg.layers.map((layer): Cell => {
        const a = layerStat(g, layer, "alignment");
        const u = layerStat(g, layer, "uniformity");
        if (!a && !u) return { text: MISSING, muted: true };
        const f = (s: Stat | null) => (s ? s.mean.toFixed(3) : MISSING);
        return { text: `${f(a)} / ${f(u)}` };
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
  const header = ["run", "group", "seed", "state", "epoch", "step", "final loss", "kNN %", "eval", "wall"];
  if (withNote) header.push("note");
  return {
    id: "runs",
    title: "Runs",
    note: "kNN % = last kNN monitor (backbone features); eval = layers evaluated",
    header,
    align: ["l", "l", "r", "l", "r", "r", "r", "r", "r", "r", "l"],
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

/** Every table of the report, in reading order. Metric tables only when something was evaluated. */
export function buildTables(data: ReportData, agg: Aggregate): Table[] {
  const tables: Table[] = [];
  if (agg.layers.length) {
    tables.push(...METRIC_TABLES.map((s) => metricTable(agg, s)), alignUniformTable(agg));
  }
  tables.push(runTable(data, agg));
  return tables;
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
  const note = color ? t.note : t.note?.replace("; best per layer in bold", "");
  if (note) lines.push(color ? ansi("2", `(${note})`) : `(${note})`);
  return lines.join("\n");
}

export function renderText(data: ReportData, agg: Aggregate, tables: Table[], color = false): string {
  const head = `projhead report: ${data.runs.length} run(s) in ${agg.groups.length} group(s)` +
    (data.sweeps.length ? `, sweeps: ${data.sweeps.map((s) => s.name).join(", ")}` : "");
  const parts = [head, ...tables.map((t) => renderTextTable(t, color))];
  if (!agg.layers.length && data.runs.length) {
    parts.push("No evaluations yet (eval.json); run `projhead eval`, or set train.evalAtEnd: true in the experiment.");
  }
  if (data.warnings.length) parts.push(["Warnings:", ...data.warnings.map((w) => `  ${w}`)].join("\n"));
  return parts.join("\n\n") + "\n";
}
