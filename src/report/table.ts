// Report tables as a small model (title, header, cells) rendered two ways: aligned plain text
// for the terminal here, HTML in html.ts. One model keeps the two views in agreement.
import {
  compareLayers,
  layerStat,
  type Aggregate,
  type Comparison,
  type GroupAggregate,
  type LayerMetric,
  type Stat,
} from "./aggregate.js";
import type { ReportData, RunData } from "./model.js";
import type { PairedStat } from "./stats.js";

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
/** A layer the method does not train: not evaluated, not compared. */
export const UNTRAINED = "—";
export const UNTRAINED_NOTE = "— = head not trained by this method: not evaluated, not compared";

export function fmtPct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? MISSING : (x * 100).toFixed(1);
}

/**
 * "mean ± std [lo, hi]" with `digits` decimals, [lo, hi] the 95 % t-interval of the mean;
 * `ci: false` leaves the interval out. A single seed has neither std nor interval: the mean only.
 */
export function fmtStat(s: Stat | null, digits: number, scale = 1, opts: { ci?: boolean } = {}): string {
  if (!s) return MISSING;
  const f = (x: number) => (x * scale).toFixed(digits);
  if (s.std === null) return f(s.mean);
  const ci = opts.ci !== false && s.ci ? ` [${f(s.ci.lo)}, ${f(s.ci.hi)}]` : "";
  return `${f(s.mean)} ± ${f(s.std)}${ci}`;
}

/** A signed number: "+2.0", "-1.5"; what rounds to zero is unsigned "0.0". */
export function fmtSigned(x: number, digits: number): string {
  const t = Math.abs(x).toFixed(digits);
  return Number(t) === 0 ? t : (x > 0 ? "+" : "-") + t;
}

export function fmtCount(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return MISSING;
  return Math.round(x).toLocaleString("en-US");
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
  { id: "erank", metric: "effectiveRank", title: "Effective rank (RankMe)", digits: 1, scale: 1, higherIsBetter: false },
];

const STAT_NOTE = "mean ± sample std [95 % t-interval of the mean] over seeds; n = evaluated runs";
const RANKME_NOTE =
  "RankMe (Garrido et al. 2023): exp of the entropy of the normalised singular values of the embedding matrix";
const INIT_NOTE = "h@init = kNN top-1 of h at random initialisation (the kNN monitor before the first step)";

function untrainedCell(g: GroupAggregate, layer: string): Cell | null {
  return g.untrainedLayers.includes(layer) ? { text: UNTRAINED, muted: true } : null;
}

function notes(...parts: (string | false | undefined)[]): string {
  return parts.filter((p): p is string => !!p).join("; ");
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
  const unconverged = (g: GroupAggregate, layer: string) =>
    spec.metric === "linearTop1" && (g.layers.find((l) => l.layer === layer)?.probeUnconverged ?? 0) > 0;
  const anyUnconverged = agg.groups.some((g) => agg.layers.some((l) => unconverged(g, l)));
  const untrained = agg.groups.some((g) => agg.layers.some((l) => g.untrainedLayers.includes(l)));
  return {
    id: spec.id,
    title: spec.title,
    note: notes(
      STAT_NOTE,
      withInit && INIT_NOTE,
      spec.metric === "effectiveRank" && RANKME_NOTE,
      untrained && UNTRAINED_NOTE,
      anyUnconverged && "* the probe of at least one run stopped at its iteration cap before converging",
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
        const mark = unconverged(g, layer) ? "*" : "";
        return { text: fmtStat(s, spec.digits, spec.scale) + mark, muted: !s, best: isBest };
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

const PAIRED_METRICS: { metric: LayerMetric; name: string }[] = [
  { metric: "linearTop1", name: "linear" },
  { metric: "knnTop1", name: "kNN" },
];

function fmtInterval(p: PairedStat, scale: number, digits: number): string {
  return p.ci ? `[${fmtSigned(p.ci.lo * scale, digits)}, ${fmtSigned(p.ci.hi * scale, digits)}]` : MISSING;
}

/** Verdicts that claim something stand out; the undecided ones are dimmed. */
function verdictCell(p: PairedStat): Cell {
  const decided = p.verdict !== "no difference shown" && p.verdict !== "one seed cannot decide";
  return { text: p.verdict, best: decided && p.verdict !== "worse", bad: p.verdict === "worse", muted: !decided };
}

/**
 * One row per method group and layer: the mean of the per-seed differences to the baseline
 * (percentage points), its 95 % t-interval, and the verdict read from the interval.
 */
export function pairedTable(agg: Aggregate): Table | null {
  // Without any run of the baseline method there is nothing to pair with (renderText says so).
  if (!agg.comparisons.some((c) => c.baselineKey) || !agg.layers.length) return null;
  const withVs = agg.comparisons.some((c) => c.baselineLabel && c.baselineLabel !== c.baseline);
  const header = ["method", ...(withVs ? ["vs"] : []), "layer", "pairs"];
  const align: ("l" | "r")[] = ["l", ...(withVs ? ["l" as const] : []), "l", "r"];
  for (const m of PAIRED_METRICS) {
    header.push(`${m.name} Δ`, "95 % CI", "verdict");
    align.push("r", "r", "l");
  }
  const rows: Cell[][] = [];
  const lead = (c: Comparison): Cell[] => [
    { text: c.label, color: c.color },
    ...(withVs ? [{ text: c.baselineLabel ?? c.baseline }] : []),
  ];
  for (const c of agg.comparisons) {
    const why = c.note;
    if (why && !c.pairs.length) {
      const empty = PAIRED_METRICS.flatMap((_, i): Cell[] => [
        { text: MISSING, muted: true },
        { text: MISSING, muted: true },
        { text: i === 0 ? why : "", muted: true },
      ]);
      rows.push([...lead(c), { text: MISSING, muted: true }, { text: "0", muted: true }, ...empty]);
      continue;
    }
    for (const l of c.layers) {
      const row: Cell[] = [...lead(c), { text: l.layer }];
      const n = Math.max(0, ...PAIRED_METRICS.map((m) => l.metrics[m.metric]?.n ?? 0));
      row.push({ text: l.untrained ? UNTRAINED : String(n), muted: l.untrained || n === 0 });
      for (const m of PAIRED_METRICS) {
        const p = l.metrics[m.metric];
        if (l.untrained) row.push({ text: UNTRAINED, muted: true }, { text: "", muted: true }, { text: "", muted: true });
        else if (!p) row.push({ text: MISSING, muted: true }, { text: MISSING, muted: true }, { text: "", muted: true });
        else row.push({ text: fmtSigned(p.mean * 100, 1) }, { text: fmtInterval(p, 100, 1) }, verdictCell(p));
      }
      rows.push(row);
    }
  }
  const untrained = agg.comparisons.some((c) => c.layers.some((l) => l.untrained));
  return {
    id: "paired",
    title: `Paired difference to ${agg.baseline} (same seed), percentage points`,
    note: notes(
      `Δ = mean over seeds of (method − ${agg.baseline}) on runs that differ only in the method`,
      "95 % CI = t-interval of that mean",
      "verdict from the CI alone: above 0 better, below 0 worse, containing 0 no difference shown, a single pair: one seed cannot decide",
      untrained && UNTRAINED_NOTE,
    ),
    header,
    align,
    rows,
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

/** Every table of the report, in reading order. Metric tables only when something was evaluated. */
export function buildTables(data: ReportData, agg: Aggregate): Table[] {
  const tables: (Table | null)[] = [];
  if (agg.layers.length) {
    tables.push(...METRIC_TABLES.map((s) => metricTable(agg, s)), alignUniformTable(agg), pairedTable(agg));
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

export function renderText(data: ReportData, agg: Aggregate, tables: Table[], color = false): string {
  const head = `projhead report: ${data.runs.length} run(s) in ${agg.groups.length} group(s)` +
    (data.sweeps.length ? `, sweeps: ${data.sweeps.map((s) => s.name).join(", ")}` : "");
  const parts = [head, ...tables.map((t) => renderTextTable(t, color))];
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
