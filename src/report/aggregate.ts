// Group runs by method and by every sweep override except the seed, and summarise each
// group over its seeds (mean, sample std, 95 % t-interval per layer and per metric); then pair
// each method's runs with the baseline method's runs of the same seed and settings.
import type { LayerEval, ReportData, RunData } from "./model.js";
import { meanStd, pairedDifference, type Direction, type PairedStat, type Stat } from "./stats.js";

export type { Stat, PairedStat } from "./stats.js";
export { meanStd } from "./stats.js";

/** The baseline of the paired comparison unless a file or flag names another. */
export const DEFAULT_BASELINE = "joint";

export type LayerMetric = "linearTop1" | "knnTop1" | "effectiveRank" | "alignment" | "uniformity";
export const LAYER_METRICS: LayerMetric[] = [
  "linearTop1",
  "knnTop1",
  "effectiveRank",
  "alignment",
  "uniformity",
];

/** Which way each metric improves: accuracies up, alignment and uniformity (Wang & Isola) down. */
export const METRIC_DIRECTION: Record<LayerMetric, Direction> = {
  linearTop1: "higher",
  knnTop1: "higher",
  effectiveRank: null,
  alignment: "lower",
  uniformity: "lower",
};

export type DynamicsMetric = "knnTop1" | "effectiveRank" | "alignment" | "uniformity";
export const DYNAMICS_METRICS: DynamicsMetric[] = ["knnTop1", "effectiveRank", "alignment", "uniformity"];

/** A group's per-layer curves over training: the mean over its runs at each epoch. */
export interface GroupDynamics {
  /** Epochs measured by any run of the group, ascending; 0 is before the first step. */
  epochs: number[];
  layers: string[];
  /** series[metric][layer][i]: mean at epochs[i], null where no run measured it. */
  series: Record<DynamicsMetric, Record<string, (number | null)[]>>;
  /** Runs contributing, and the subset size they measured on. */
  runs: number;
  subsetSize: number | null;
}

/** Means over the group's finished runs (a failed run stopped early: its counts are not the method's). */
export interface ComputeAggregate {
  runs: number;
  trainSeconds: Stat | null;
  imagesSeen: Stat | null;
  optimizerSteps: Stat | null;
  innerHeadSteps: Stat | null;
}

export interface LayerAggregate {
  layer: string;
  dim: number | null;
  stats: Record<LayerMetric, Stat | null>;
  /** Element-wise mean over seeds of the singular values (truncated to the shortest). */
  singularValues: number[];
  /** Runs whose linear probe stopped at its iteration cap before reaching the tolerance. */
  probeUnconverged: number;
}

export interface GroupAggregate {
  /** Stable id: method plus the non-seed overrides. */
  key: string;
  /** Shown in tables and legends: "bilevel" or "bilevel (innerSteps=5)". */
  label: string;
  method: string;
  /** Overrides shared by the group, without the seed. */
  overrides: Record<string, unknown>;
  color: string;
  /** Index of this group among the groups of the same method (0 = first); varies line dash. */
  variant: number;
  runIds: string[];
  seeds: number[];
  /** Runs of the group that have an evaluation. */
  evaluated: number;
  layers: LayerAggregate[];
  /** Layers the method does not train: shown as "—", never compared. */
  untrainedLayers: string[];
  finalLoss: Stat | null;
  knnTop1: Stat | null;
  /** kNN monitor at random initialisation (before the first step). */
  initialKnnTop1: Stat | null;
  compute: ComputeAggregate;
  dynamics: GroupDynamics | null;
}

/** One cell of the paired comparison: a layer, every metric's paired difference. */
export interface PairedLayer {
  layer: string;
  /** Untrained by the method or by the baseline: nothing to compare. */
  untrained: boolean;
  metrics: Record<LayerMetric, PairedStat | null>;
}

/** A method group against the baseline method's runs of the same seed and settings. */
export interface Comparison {
  groupKey: string;
  label: string;
  method: string;
  color: string;
  baseline: string;
  baselineKey: string | null;
  baselineLabel: string | null;
  /** Runs paired by seed (both present; a cell's n counts the pairs with values). */
  pairs: { seed: number; runId: string; baselineRunId: string }[];
  layers: PairedLayer[];
  /** Mean training time of the group over that of its baseline group. */
  trainTimeRatio: number | null;
  /** Why nothing is compared, when nothing is. */
  note?: string;
}

export interface Aggregate {
  groups: GroupAggregate[];
  /** Every layer seen in any evaluated run, ordered from backbone to z. */
  layers: string[];
  /** Group key of each run id. */
  groupOf: Record<string, string>;
  /** Method every other method is compared with, seed by seed. */
  baseline: string;
  comparisons: Comparison[];
}

export interface AggregateOptions {
  /** Baseline method of the paired comparison; default "joint". */
  baseline?: string;
}

/** Canonical method order: baseline first, the paper's method next, then the ablations. */
export const METHOD_ORDER = ["joint", "bilevel", "no_head", "fixed_head", "directclr"];

// Tableau-like colours, one per method, so a method reads the same in every chart.
const METHOD_COLORS: Record<string, string> = {
  joint: "#1f77b4",
  bilevel: "#d62728",
  no_head: "#7f7f7f",
  fixed_head: "#2ca02c",
  directclr: "#9467bd",
};
const EXTRA_COLORS = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];

/** Position of a layer from the input: h = 0, head.k = k, z last, unknown names after h. */
export function layerRank(layer: string): number {
  if (layer === "h") return 0;
  if (layer === "z") return Number.MAX_SAFE_INTEGER;
  const m = /^head\.(\d+)$/.exec(layer);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER - 1;
}

export function compareLayers(a: string, b: string): number {
  return layerRank(a) - layerRank(b) || a.localeCompare(b);
}

function isSeedKey(k: string): boolean {
  return k === "seed" || k.endsWith(".seed");
}

function isMethodKey(k: string): boolean {
  // The method is already the first grouping key; repeating it in labels is noise.
  return k === "method" || k === "method.name";
}

function variantOverrides(run: RunData): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(run.overrides).sort()) {
    if (!isSeedKey(k) && !isMethodKey(k)) out[k] = run.overrides[k];
  }
  return out;
}

function fmtValue(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function methodRank(m: string): number {
  const i = METHOD_ORDER.indexOf(m);
  return i < 0 ? METHOD_ORDER.length : i;
}

/** Mix a #rrggbb colour toward black (t < 0) or white (t > 0). */
export function shade(hex: string, t: number): string {
  const n = parseInt(hex.slice(1), 16);
  const ch = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((c) =>
    Math.round(t < 0 ? c * (1 + t) : c + (255 - c) * t),
  );
  return "#" + ch.map((c) => c.toString(16).padStart(2, "0")).join("");
}

// Variants of one method keep its hue and change lightness: darker, lighter, darker still...
const VARIANT_SHADES = [0, -0.35, 0.35, -0.6, 0.55];

type LayerValues = Pick<LayerEval, LayerMetric | "singularValues" | "dim" | "probeConverged">;

/** A metric's value, null where it was not computed (accuracies < 0 in the contract). */
function valueOf(l: LayerValues | undefined, m: LayerMetric): number | null {
  const v = l?.[m];
  if (v === undefined || !Number.isFinite(v) || (m.endsWith("Top1") && v < 0)) return null;
  return v;
}

function layerAggregate(layer: string, recs: LayerValues[]): LayerAggregate {
  const stats = {} as Record<LayerMetric, Stat | null>;
  for (const m of LAYER_METRICS) {
    stats[m] = meanStd(recs.map((r) => valueOf(r, m) ?? Number.NaN));
  }
  const svs = recs.map((r) => r.singularValues).filter((s) => s.length > 0);
  const len = svs.length ? Math.min(...svs.map((s) => s.length)) : 0;
  const singularValues = Array.from(
    { length: len },
    (_, i) => svs.reduce((s, x) => s + x[i]!, 0) / svs.length,
  );
  const dims = recs.map((r) => r.dim).filter((d) => d > 0);
  const probeUnconverged = recs.filter((r) => r.probeConverged === false).length;
  return { layer, dim: dims.length ? Math.max(...dims) : null, stats, singularValues, probeUnconverged };
}

function dynamicsOf(runs: RunData[]): GroupDynamics | null {
  const withDyn = runs.filter((r) => r.dynamics.length);
  if (!withDyn.length) return null;
  const epochs = [...new Set(withDyn.flatMap((r) => r.dynamics.map((p) => p.epoch)))].sort((a, b) => a - b);
  const layers = [...new Set(withDyn.flatMap((r) => r.dynamics.flatMap((p) => p.layers.map((l) => l.layer))))].sort(compareLayers);
  const series = {} as GroupDynamics["series"];
  for (const m of DYNAMICS_METRICS) {
    series[m] = {};
    for (const layer of layers) {
      series[m][layer] = epochs.map((e) => {
        const vals = withDyn.flatMap((r) => {
          const v = r.dynamics.find((p) => p.epoch === e)?.layers.find((l) => l.layer === layer)?.[m];
          return v === null || v === undefined || !Number.isFinite(v) ? [] : [v];
        });
        return vals.length ? vals.reduce((s, x) => s + x, 0) / vals.length : null;
      });
    }
  }
  const sizes = new Set(withDyn.flatMap((r) => r.dynamics.map((p) => p.subsetSize)).filter((n) => n > 0));
  return { epochs, layers, series, runs: withDyn.length, subsetSize: sizes.size === 1 ? [...sizes][0]! : null };
}

function computeOf(runs: RunData[]): ComputeAggregate {
  return {
    runs: runs.length,
    trainSeconds: statOf(runs, (r) => r.trainSeconds),
    imagesSeen: statOf(runs, (r) => r.imagesSeen),
    optimizerSteps: statOf(runs, (r) => r.optimizerSteps),
    innerHeadSteps: statOf(runs, (r) => r.innerHeadSteps),
  };
}

const statOf = (runs: RunData[], f: (r: RunData) => number | null) => meanStd(runs.map((r) => f(r) ?? Number.NaN));

// Options of one method (bilevel's inner loop, directclr's width) change nothing for the others:
// a bilevel (innerSteps=5) group pairs with the joint runs of the same other settings.
function isMethodOption(k: string): boolean {
  return k.startsWith("method.bilevel.") || k === "method.directclrDim";
}

function sharedSettings(overrides: Record<string, unknown>): string {
  return JSON.stringify(Object.entries(overrides).filter(([k]) => !isMethodOption(k)));
}

function runValue(r: RunData, layer: string, m: LayerMetric): number | null {
  return valueOf(r.eval?.layers.find((l) => l.layer === layer), m);
}

function compare(
  g: GroupAggregate,
  groups: GroupAggregate[],
  runsOf: Map<string, RunData[]>,
  layers: string[],
  baseline: string,
): Comparison {
  const candidates = groups.filter((b) => b.method === baseline && sharedSettings(b.overrides) === sharedSettings(g.overrides));
  const b =
    candidates.find((c) => JSON.stringify(c.overrides) === JSON.stringify(g.overrides)) ?? candidates[0] ?? null;
  const base = {
    groupKey: g.key,
    label: g.label,
    method: g.method,
    color: g.color,
    baseline,
    baselineKey: b?.key ?? null,
    baselineLabel: b?.label ?? null,
  };
  if (!b) {
    return { ...base, pairs: [], layers: [], trainTimeRatio: null, note: `no ${baseline} runs with the same settings` };
  }
  const baseRuns = runsOf.get(b.key) ?? [];
  const pairs: { run: RunData; base: RunData }[] = [];
  for (const run of runsOf.get(g.key) ?? []) {
    if (run.seed === null) continue;
    // Same seed on the same data and backbone; from the same experiment when there is a choice.
    const same = baseRuns.filter((x) => x.seed === run.seed && x.dataset === run.dataset && x.backbone === run.backbone);
    const partner = same.find((x) => x.experiment === run.experiment) ?? same[0];
    if (partner) pairs.push({ run, base: partner });
  }
  const untrained = new Set([...g.untrainedLayers, ...b.untrainedLayers]);
  const paired: PairedLayer[] = layers.map((layer) => {
    const metrics = {} as Record<LayerMetric, PairedStat | null>;
    for (const m of LAYER_METRICS) {
      const diffs = untrained.has(layer)
        ? []
        : pairs.flatMap((p) => {
            const a = runValue(p.run, layer, m);
            const c = runValue(p.base, layer, m);
            return a === null || c === null ? [] : [{ seed: p.run.seed, value: a - c }];
          });
      metrics[m] = pairedDifference(diffs, METRIC_DIRECTION[m]);
    }
    return { layer, untrained: untrained.has(layer), metrics };
  });
  const t = g.compute.trainSeconds?.mean;
  const tb = b.compute.trainSeconds?.mean;
  return {
    ...base,
    pairs: pairs.map((p) => ({ seed: p.run.seed!, runId: p.run.runId, baselineRunId: p.base.runId })),
    layers: paired,
    trainTimeRatio: t !== undefined && tb ? t / tb : null,
    ...(pairs.length ? {} : { note: `no ${baseline} run with the same seed` }),
  };
}

export function aggregate(data: ReportData, opts: AggregateOptions = {}): Aggregate {
  const baseline = opts.baseline ?? DEFAULT_BASELINE;
  const byKey = new Map<string, { method: string; overrides: Record<string, unknown>; runs: RunData[] }>();
  for (const run of data.runs) {
    const overrides = variantOverrides(run);
    const key = JSON.stringify([run.method, overrides]);
    const g = byKey.get(key) ?? { method: run.method, overrides, runs: [] };
    g.runs.push(run);
    byKey.set(key, g);
  }

  const entries = [...byKey.entries()].map(([key, g]) => {
    // "method.bilevel.innerSteps" reads as "innerSteps" unless two keys would then collide.
    const keys = Object.keys(g.overrides);
    const short = (k: string) => k.split(".").at(-1)!;
    const unique = new Set(keys.map(short)).size === keys.length;
    const suffix = keys.map((k) => `${unique ? short(k) : k}=${fmtValue(g.overrides[k])}`).join(", ");
    return { key, ...g, label: suffix ? `${g.method} (${suffix})` : g.method };
  });
  entries.sort(
    (a, b) => methodRank(a.method) - methodRank(b.method) || a.label.localeCompare(b.label, "en", { numeric: true }),
  );

  const unknownMethods = [...new Set(entries.map((e) => e.method))].filter((m) => !METHOD_COLORS[m]).sort();
  const variantCount = new Map<string, number>();
  const allLayers = new Set<string>();
  const groupOf: Record<string, string> = {};

  const groups: GroupAggregate[] = entries.map((e) => {
    const variant = variantCount.get(e.method) ?? 0;
    variantCount.set(e.method, variant + 1);
    const base =
      METHOD_COLORS[e.method] ?? EXTRA_COLORS[unknownMethods.indexOf(e.method) % EXTRA_COLORS.length]!;
    const runs = [...e.runs].sort((a, b) => (a.seed ?? 0) - (b.seed ?? 0) || a.runId.localeCompare(b.runId));
    const perLayer = new Map<string, LayerEval[]>();
    for (const r of runs) {
      groupOf[r.runId] = e.key;
      for (const l of r.eval?.layers ?? []) {
        perLayer.set(l.layer, [...(perLayer.get(l.layer) ?? []), l]);
        allLayers.add(l.layer);
      }
    }
    const layers = [...perLayer.keys()].sort(compareLayers).map((l) => layerAggregate(l, perLayer.get(l)!));
    return {
      key: e.key,
      label: e.label,
      method: e.method,
      overrides: e.overrides,
      color: shade(base, VARIANT_SHADES[variant % VARIANT_SHADES.length]!),
      variant,
      runIds: runs.map((r) => r.runId),
      seeds: runs.map((r) => r.seed).filter((s): s is number => s !== null),
      evaluated: runs.filter((r) => r.eval?.layers.length).length,
      layers,
      untrainedLayers: [...new Set(runs.flatMap((r) => r.untrainedLayers))].sort(compareLayers),
      finalLoss: statOf(runs, (r) => r.finalLoss),
      knnTop1: statOf(runs, (r) => r.knnTop1),
      initialKnnTop1: statOf(runs, (r) => r.initialKnnTop1),
      compute: computeOf(runs.filter((r) => r.state === "finished")),
      dynamics: dynamicsOf(runs),
    };
  });

  const layers = [...allLayers].sort(compareLayers);
  const runsOf = new Map(
    groups.map((g) => [g.key, g.runIds.map((id) => data.runs.find((r) => r.runId === id)!)]),
  );
  const comparisons = groups
    .filter((g) => g.method !== baseline)
    .map((g) => compare(g, groups, runsOf, layers, baseline));
  return { groups, layers, groupOf, baseline, comparisons };
}

export function layerStat(g: GroupAggregate, layer: string, metric: LayerMetric): Stat | null {
  return g.layers.find((l) => l.layer === layer)?.stats[metric] ?? null;
}
