// Group runs by method and by every resolved setting except the seed (grouping.ts), count each
// seed once, and summarise each group over its seeds (mean, sample std, 95 % t-interval per layer
// and per metric); then pair each method's runs with the baseline method's runs of the same seed
// and settings, and adjust the verdicts for multiplicity (multiplicity.ts).
import { METHODS } from "../experiment/schema.js";
import { flagsFor, flagsOf, type EvalFlag } from "./flags.js";
import { floorsOf, type FloorAggregate } from "./floors.js";
import { distinctSeeds, groupRuns, optionOwner, type DuplicateSeed } from "./grouping.js";
import type { LayerEval, ReportData, RunData } from "./model.js";
import { adjustFamilies, defaultPrimary, unadjusted, type CellRef, type Families, type PairedCell, type PrimarySpec } from "./multiplicity.js";
import { ALPHA, mde, meanStd, pairedDifference, POWER, type Direction, type Stat } from "./stats.js";

export type { Stat, PairedStat } from "./stats.js";
export type { PairedCell, PrimarySpec, Families } from "./multiplicity.js";
export type { DuplicateSeed } from "./grouping.js";
export type { FloorAggregate } from "./floors.js";
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

/** Validation-split metrics (eval.json formatVersion 2): what selection reads, never compared. */
export type ValMetric = "linearValTop1" | "knnValTop1";
export const VAL_METRICS: ValMetric[] = ["linearValTop1", "knnValTop1"];

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

/** Counts of runs per evaluation flag (flags.ts): not trusted as they stand. */
export interface LayerAggregate extends Record<EvalFlag, number> {
  layer: string;
  dim: number | null;
  stats: Record<LayerMetric | ValMetric, Stat | null>;
  /** Element-wise mean over seeds of the singular values (truncated to the shortest). */
  singularValues: number[];
  /** Runs whose linear probe stopped at its iteration cap before reaching the tolerance. */
  probeUnconverged: number;
  /** Runs whose eval.json does not say whether the probe converged (older files): not trusted. */
  probeUnknown: number;
  /** Runs whose probe had a fixed L2 (eval.json without `protocol`: no validation selection). */
  probeL2Fixed: number;
  /** Runs whose eval.json does not name its rank definition (older files: perhaps not RankMe). */
  rankUnknown: number;
}

export interface GroupAggregate {
  /** Stable id: method plus the settings that differ between the report's runs. */
  key: string;
  /** Shown in tables and legends: "bilevel" or "bilevel (innerSteps=5)". */
  label: string;
  method: string;
  /** The group's values of the settings that differ between the report's runs (dotted paths),
   *  without the seed and the method; the overrides, for runs without spec.json. */
  overrides: Record<string, unknown>;
  color: string;
  /** Index of this group among the groups of the same method (0 = first); varies line dash. */
  variant: number;
  /** Every run of the group, the duplicates of a seed included. */
  runIds: string[];
  /** Distinct seeds. */
  seeds: number[];
  /** Seeds with more than one run: counted once (the kept run), named in the report. */
  duplicateSeeds: DuplicateSeed[];
  /** Counted runs (one per seed) that have an evaluation. */
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
  /** Raw pixels and the random-init backbone, and the gain of h over each ([] for older runs). */
  floors: FloorAggregate[];
}

/** One cell of the paired comparison: a layer, every metric's paired difference. */
export interface PairedLayer {
  layer: string;
  /** Untrained by the method or by the baseline: nothing to compare. */
  untrained: boolean;
  metrics: Record<LayerMetric, PairedCell | null>;
  /** Paired seeds left out of a metric because one side has no value there. */
  missingSeeds: Partial<Record<LayerMetric, number[]>>;
}

/** A seed present on one side only: named, never silently dropped. */
export interface UnmatchedSeed {
  seed: number;
  /** Which side has it: the method group or the baseline group. */
  side: "method" | "baseline";
  runId: string;
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
  unmatched: UnmatchedSeed[];
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
  /** The declared primary comparison (a protocol's, else bilevel vs the baseline, linear at h). */
  primary: PrimarySpec;
  /** Sizes of the two Holm families and the level the verdicts are read at. */
  families: Families;
  /** Power the minimum detectable effects are computed for. */
  power: number;
}

export interface AggregateOptions {
  /** Baseline method of the paired comparison; default "joint". */
  baseline?: string;
  /** Default: defaultPrimary(baseline). */
  primary?: PrimarySpec;
  /** Level of the tests and the MDE (default 0.05) and the MDE's power (default 0.8). */
  alpha?: number;
  power?: number;
}

/** Canonical method order: the schema's methods in the contract's order (method.name's choices
 *  in worker.proto): the baseline first, the paper's method next, then the ablations. */
export const METHOD_ORDER: string[] = [...METHODS];

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

/** A metric's value, null where it was not computed (accuracies < 0 in the contract). */
function valueOf(l: LayerEval | undefined, m: LayerMetric | ValMetric): number | null {
  const v = l?.[m];
  if (v === undefined || !Number.isFinite(v) || (m.endsWith("Top1") && v < 0)) return null;
  return v;
}

/** A layer's evaluation with what its eval.json says about the protocol that produced it. */
interface LayerRecord extends LayerEval {
  run: RunData;
}

function layerAggregate(layer: string, recs: LayerRecord[]): LayerAggregate {
  const stats = {} as LayerAggregate["stats"];
  for (const m of [...LAYER_METRICS, ...VAL_METRICS]) {
    stats[m] = meanStd(recs.map((r) => valueOf(r, m) ?? Number.NaN));
  }
  const svs = recs.map((r) => r.singularValues).filter((s) => s.length > 0);
  const len = svs.length ? Math.min(...svs.map((s) => s.length)) : 0;
  const singularValues = Array.from(
    { length: len },
    (_, i) => svs.reduce((s, x) => s + x[i]!, 0) / svs.length,
  );
  const dims = recs.map((r) => r.dim).filter((d) => d > 0);
  const flags = recs.map((r) => flagsOf(r, r.run));
  const count = (f: EvalFlag) => flags.filter((fs) => fs.includes(f)).length;
  return {
    layer,
    dim: dims.length ? Math.max(...dims) : null,
    stats,
    singularValues,
    probeUnconverged: count("probeUnconverged"),
    probeUnknown: count("probeUnknown"),
    probeL2Fixed: count("probeL2Fixed"),
    rankUnknown: count("rankUnknown"),
  };
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
function sharedSettings(overrides: Record<string, unknown>): string {
  return JSON.stringify(Object.entries(overrides).filter(([k]) => optionOwner(k) === null));
}

/** Whether `overrides` holds an option of the same last name (headLr) with the same value. */
function sameOption(overrides: Record<string, unknown>, key: string, value: unknown): boolean {
  const name = key.split(".").at(-1);
  return Object.entries(overrides).some(([k, v]) => optionOwner(k) !== null && k.split(".").at(-1) === name && JSON.stringify(v) === JSON.stringify(value));
}

function runValue(r: RunData, layer: string, m: LayerMetric): number | null {
  return valueOf(r.eval?.layers.find((l) => l.layer === layer), m);
}

function runFlags(r: RunData, layer: string): EvalFlag[] {
  const l = r.eval?.layers.find((x) => x.layer === layer);
  return l ? flagsOf(l, r) : [];
}

function compare(
  g: GroupAggregate,
  groups: GroupAggregate[],
  runsOf: Map<string, RunData[]>,
  layers: string[],
  baseline: string,
  mdeAt: (sd: number, n: number) => number | null,
): Comparison {
  const candidates = groups.filter((b) => b.method === baseline && sharedSettings(b.overrides) === sharedSettings(g.overrides));
  // Several baseline groups differing only in their own options (joint with and without a head
  // lr): the one whose options match the method's by name and value is its matched control
  // (bilevel headLr=0.03 with joint headLr=0.03), else the first.
  const matching = (c: GroupAggregate) => Object.keys(c.overrides).filter((k) => optionOwner(k) !== null && sameOption(g.overrides, k, c.overrides[k])).length;
  const b = [...candidates].sort((x, y) => matching(y) - matching(x))[0] ?? null;
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
    return { ...base, pairs: [], unmatched: [], layers: [], trainTimeRatio: null, note: `no ${baseline} runs with the same settings` };
  }
  // One run per seed on each side (runsOf holds the counted runs), so a pair is one seed.
  const baseRuns = (runsOf.get(b.key) ?? []).filter((x) => x.seed !== null);
  const pairs: { run: RunData; base: RunData }[] = [];
  const unmatched: UnmatchedSeed[] = [];
  for (const run of runsOf.get(g.key) ?? []) {
    if (run.seed === null) continue;
    // Same seed on the same data and backbone.
    const partner = baseRuns.find((x) => x.seed === run.seed && x.dataset === run.dataset && x.backbone === run.backbone);
    if (partner) pairs.push({ run, base: partner });
    else unmatched.push({ seed: run.seed, side: "method", runId: run.runId });
  }
  for (const x of baseRuns) {
    if (!pairs.some((p) => p.base === x)) unmatched.push({ seed: x.seed!, side: "baseline", runId: x.runId });
  }
  const untrained = new Set([...g.untrainedLayers, ...b.untrainedLayers]);
  const paired: PairedLayer[] = layers.map((layer) => {
    const metrics = {} as Record<LayerMetric, PairedCell | null>;
    const missingSeeds: PairedLayer["missingSeeds"] = {};
    for (const m of LAYER_METRICS) {
      const diffs: { seed: number | null; value: number }[] = [];
      const missing: number[] = [];
      const flags = new Set<EvalFlag>();
      for (const p of untrained.has(layer) ? [] : pairs) {
        const a = runValue(p.run, layer, m);
        const c = runValue(p.base, layer, m);
        if (a === null || c === null) missing.push(p.run.seed!);
        else {
          diffs.push({ seed: p.run.seed, value: a - c });
          for (const f of [...runFlags(p.run, layer), ...runFlags(p.base, layer)]) flags.add(f);
        }
      }
      // A seed both sides ran but one side did not evaluate is named, like an unmatched seed.
      if (missing.length && diffs.length) missingSeeds[m] = missing;
      const d = pairedDifference(diffs, METRIC_DIRECTION[m]);
      metrics[m] = d && unadjusted({ ...d, mde: d.mde === null ? null : mdeAt(d.std!, d.n) }, flagsFor(flags, m));
    }
    return { layer, untrained: untrained.has(layer), metrics, missingSeeds };
  });
  const t = g.compute.trainSeconds?.mean;
  const tb = b.compute.trainSeconds?.mean;
  return {
    ...base,
    pairs: pairs.map((p) => ({ seed: p.run.seed!, runId: p.run.runId, baselineRunId: p.base.runId })),
    unmatched: unmatched.sort((x, y) => x.seed - y.seed || x.side.localeCompare(y.side)),
    layers: paired,
    trainTimeRatio: t !== undefined && tb ? t / tb : null,
    ...(pairs.length ? {} : { note: `no ${baseline} run with the same seed` }),
  };
}

export function aggregate(data: ReportData, opts: AggregateOptions = {}): Aggregate {
  const baseline = opts.baseline ?? DEFAULT_BASELINE;
  const alpha = opts.alpha ?? ALPHA;
  const power = opts.power ?? POWER;
  const primary = opts.primary ?? defaultPrimary(baseline);
  const entries = groupRuns(data.runs);
  entries.sort(
    (a, b) => methodRank(a.method) - methodRank(b.method) || a.label.localeCompare(b.label, "en", { numeric: true }),
  );

  const unknownMethods = [...new Set(entries.map((e) => e.method))].filter((m) => !METHOD_COLORS[m]).sort();
  const variantCount = new Map<string, number>();
  const allLayers = new Set<string>();
  const groupOf: Record<string, string> = {};
  const runsOf = new Map<string, RunData[]>();

  const groups: GroupAggregate[] = entries.map((e) => {
    const variant = variantCount.get(e.method) ?? 0;
    variantCount.set(e.method, variant + 1);
    const base =
      METHOD_COLORS[e.method] ?? EXTRA_COLORS[unknownMethods.indexOf(e.method) % EXTRA_COLORS.length]!;
    const all = [...e.runs].sort((a, b) => (a.seed ?? 0) - (b.seed ?? 0) || a.runId.localeCompare(b.runId));
    for (const r of all) groupOf[r.runId] = e.key;
    const { kept, duplicates } = distinctSeeds(all);
    const runs = all.filter((r) => kept.includes(r));
    runsOf.set(e.key, runs);
    const perLayer = new Map<string, LayerRecord[]>();
    for (const r of runs) {
      for (const l of r.eval?.layers ?? []) {
        perLayer.set(l.layer, [...(perLayer.get(l.layer) ?? []), { ...l, run: r }]);
        allLayers.add(l.layer);
      }
    }
    const layers = [...perLayer.keys()].sort(compareLayers).map((l) => layerAggregate(l, perLayer.get(l)!));
    return {
      key: e.key,
      label: e.label,
      method: e.method,
      overrides: e.fields,
      color: shade(base, VARIANT_SHADES[variant % VARIANT_SHADES.length]!),
      variant,
      runIds: all.map((r) => r.runId),
      seeds: [...new Set(runs.map((r) => r.seed).filter((s): s is number => s !== null))],
      duplicateSeeds: duplicates,
      evaluated: runs.filter((r) => r.eval?.layers.length).length,
      layers,
      untrainedLayers: [...new Set(runs.flatMap((r) => r.untrainedLayers))].sort(compareLayers),
      finalLoss: statOf(runs, (r) => r.finalLoss),
      knnTop1: statOf(runs, (r) => r.knnTop1),
      initialKnnTop1: statOf(runs, (r) => r.initialKnnTop1),
      compute: computeOf(runs.filter((r) => r.state === "finished")),
      dynamics: dynamicsOf(runs),
      floors: floorsOf(runs),
    };
  });

  const layers = [...allLayers].sort(compareLayers);
  const mdeAt = (sd: number, n: number) => mde(sd, n, alpha, power);
  const comparisons = groups
    .filter((g) => g.method !== baseline)
    .map((g) => compare(g, groups, runsOf, layers, baseline, mdeAt));
  const cells: CellRef[] = comparisons.flatMap((c) =>
    c.layers.flatMap((l) =>
      LAYER_METRICS.flatMap((m) => {
        const cell = l.metrics[m];
        const isPrimary = c.method === primary.method && c.baseline === primary.baseline && l.layer === primary.layer && m === primary.metric;
        return cell ? [{ cell, direction: METRIC_DIRECTION[m], primary: isPrimary }] : [];
      }),
    ),
  );
  const families = adjustFamilies(cells, alpha);
  return { groups, layers, groupOf, baseline, comparisons, primary, families, power };
}

export function layerStat(g: GroupAggregate, layer: string, metric: LayerMetric | ValMetric): Stat | null {
  return g.layers.find((l) => l.layer === layer)?.stats[metric] ?? null;
}
