// Group runs by method and by every sweep override except the seed, and summarise each
// group over its seeds: mean and sample standard deviation per layer and per metric.
import type { LayerEvalRecord } from "../runs/types.js";
import type { ReportData, RunData } from "./model.js";

export interface Stat {
  mean: number;
  /** Sample standard deviation (n - 1); null with a single value, where it is undefined. */
  std: number | null;
  n: number;
}

export type LayerMetric = "linearTop1" | "knnTop1" | "effectiveRank" | "alignment" | "uniformity";
export const LAYER_METRICS: LayerMetric[] = [
  "linearTop1",
  "knnTop1",
  "effectiveRank",
  "alignment",
  "uniformity",
];

export interface LayerAggregate {
  layer: string;
  dim: number | null;
  stats: Record<LayerMetric, Stat | null>;
  /** Element-wise mean over seeds of the singular values (truncated to the shortest). */
  singularValues: number[];
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
  finalLoss: Stat | null;
  knnTop1: Stat | null;
}

export interface Aggregate {
  groups: GroupAggregate[];
  /** Every layer seen in any evaluated run, ordered from backbone to z. */
  layers: string[];
  /** Group key of each run id. */
  groupOf: Record<string, string>;
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

/** Mean and sample std of the finite values; null when there are none. */
export function meanStd(values: number[]): Stat | null {
  const v = values.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (!n) return null;
  const mean = v.reduce((s, x) => s + x, 0) / n;
  if (n === 1) return { mean, std: null, n };
  const ss = v.reduce((s, x) => s + (x - mean) ** 2, 0);
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}

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

function layerAggregate(layer: string, recs: LayerEvalRecord[]): LayerAggregate {
  const stats = {} as Record<LayerMetric, Stat | null>;
  for (const m of LAYER_METRICS) {
    // Accuracies < 0 mean "not computed" throughout the contract.
    const vals = recs.map((r) => r[m]).filter((x) => !(m.endsWith("Top1") && x < 0));
    stats[m] = meanStd(vals);
  }
  const svs = recs.map((r) => r.singularValues).filter((s) => s.length > 0);
  const len = svs.length ? Math.min(...svs.map((s) => s.length)) : 0;
  const singularValues = Array.from(
    { length: len },
    (_, i) => svs.reduce((s, x) => s + x[i]!, 0) / svs.length,
  );
  const dims = recs.map((r) => r.dim).filter((d) => d > 0);
  return { layer, dim: dims.length ? Math.max(...dims) : null, stats, singularValues };
}

export function aggregate(data: ReportData): Aggregate {
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
    const perLayer = new Map<string, LayerEvalRecord[]>();
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
      finalLoss: meanStd(runs.map((r) => r.finalLoss ?? Number.NaN)),
      knnTop1: meanStd(runs.map((r) => r.knnTop1 ?? Number.NaN)),
    };
  });

  return { groups, layers: [...allLayers].sort(compareLayers), groupOf };
}

export function layerStat(g: GroupAggregate, layer: string, metric: LayerMetric): Stat | null {
  return g.layers.find((l) => l.layer === layer)?.stats[metric] ?? null;
}
