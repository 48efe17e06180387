// Chart descriptions as plain JSON (Chart.js configs without functions). The page script in
// html.ts adds the formatters, so the data stays inspectable in the HTML and testable here.
import {
  compareLayers,
  DYNAMICS_METRICS,
  layerStat,
  type Aggregate,
  type DynamicsMetric,
  type GroupAggregate,
  type LayerMetric,
} from "./aggregate.js";
import type { ReportData } from "./model.js";

/** pct: percent; pp: signed percentage points; num: 3 decimals; rank, loss, sv as named. */
export type ValueFormat = "pct" | "pp" | "loss" | "rank" | "num" | "sv";

export interface ChartSpec {
  id: string;
  /**
   * "layers": x is a layer index whose ticks show layer names (see `layers`); "dynamics": x is
   * the epoch, one line per layer of one method group (see `group`).
   */
  kind: "curve" | "layers" | "spectrum" | "dynamics";
  format: ValueFormat;
  /** Layer names for the ticks of a "layers" chart, backbone first. */
  layers?: string[];
  /** Label of the method group a "dynamics" panel shows. */
  group?: string;
  /** The metric of a "dynamics" panel. */
  metric?: DynamicsMetric;
  config: {
    type: "line";
    data: { datasets: Dataset[] };
    options: Record<string, unknown>;
  };
}

export interface Dataset {
  label: string;
  data: { x: number; y: number | null }[];
  borderColor: string;
  backgroundColor: string;
  borderDash?: number[];
  borderWidth?: number;
  pointRadius?: number;
  /** Error half-widths (95 % t-interval of the mean) aligned with data; drawn as whiskers. */
  errors?: (number | null)[];
  /** Number of seeds behind each point, for tooltips. */
  counts?: number[];
}

// Seeds of one group share the group colour and differ by dash pattern.
const DASHES = [[], [6, 3], [2, 2], [10, 3, 2, 3], [4, 4]];

function axis(title: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { title: { display: true, text: title, font: { weight: "bold" } }, ...extra };
}

function options(title: string, subtitle: string, x: Record<string, unknown>, y: Record<string, unknown>) {
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "nearest", intersect: false },
    plugins: {
      title: { display: true, text: title, font: { size: 15, weight: "bold" } },
      subtitle: { display: true, text: subtitle, padding: { bottom: 8 } },
      legend: { position: "bottom", labels: { boxWidth: 24, boxHeight: 2 } },
    },
    scales: { x, y },
  };
}

function runLabel(g: GroupAggregate, seed: number | null, runId: string): string {
  return seed === null ? `${g.label} · ${runId}` : `${g.label} · seed ${seed}`;
}

function runDatasets(
  data: ReportData,
  agg: Aggregate,
  points: (r: ReportData["runs"][number]) => { x: number; y: number | null }[],
  pointRadius: number,
): Dataset[] {
  const out: Dataset[] = [];
  for (const g of agg.groups) {
    g.runIds.forEach((id, i) => {
      const r = data.runs.find((x) => x.runId === id);
      if (!r) return;
      const pts = points(r);
      if (!pts.length) return;
      out.push({
        label: runLabel(g, r.seed, r.runId),
        data: pts,
        borderColor: g.color,
        backgroundColor: g.color,
        borderDash: DASHES[i % DASHES.length]!,
        borderWidth: 1.5,
        pointRadius,
      });
    });
  }
  return out;
}

function lossChart(data: ReportData, agg: Aggregate): ChartSpec | null {
  const datasets = runDatasets(data, agg, (r) => r.stepCurve.map((p) => ({ x: p.step, y: p.loss })), 0);
  if (!datasets.length) return null;
  return {
    id: "loss",
    kind: "curve",
    format: "loss",
    config: {
      type: "line",
      data: { datasets },
      options: options(
        "Training loss per run",
        "InfoNCE of the batch with the parameters as they came into the step (the same quantity for every method)",
        axis("step", { type: "linear" }),
        axis("InfoNCE loss"),
      ),
    },
  };
}

function knnMonitorChart(data: ReportData, agg: Aggregate): ChartSpec | null {
  const datasets = runDatasets(
    data,
    agg,
    (r) =>
      // Epoch 0: the random-init baseline, so the curve shows what training added.
      [
        ...(r.initialKnnTop1 !== null ? [{ x: 0, y: round(r.initialKnnTop1 * 100, 3) }] : []),
        ...r.epochCurve
          .filter((e) => e.knnTop1 !== null && (e.epoch > 0 || r.initialKnnTop1 === null))
          .map((e) => ({ x: e.epoch, y: round(e.knnTop1! * 100, 3) })),
      ],
    2.5,
  );
  if (!datasets.length) return null;
  return {
    id: "knn-monitor",
    kind: "curve",
    format: "pct",
    config: {
      type: "line",
      data: { datasets },
      options: options(
        "kNN monitor per run",
        "weighted kNN top-1 on backbone features h (k=200, τ=0.1, cosine); epoch 0 = random init, then at epoch end",
        axis("epoch", { type: "linear", ticks: { precision: 0 } }),
        axis("kNN top-1 (%)"),
      ),
    },
  };
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Groups are dodged sideways around each layer index so their whiskers do not overlap. */
function layerChart(agg: Aggregate, metric: LayerMetric, id: string, title: string, yTitle: string, scale: number): ChartSpec | null {
  const present = agg.groups.filter((g) => agg.layers.some((l) => layerStat(g, l, metric)));
  if (!present.length) return null;
  const width = present.length > 1 ? Math.min(0.4, 0.12 * (present.length - 1)) : 0;
  const datasets: Dataset[] = present.map((g, gi) => {
    const dx = present.length > 1 ? -width / 2 + (width * gi) / (present.length - 1) : 0;
    const stats = agg.layers.map((l) => layerStat(g, l, metric));
    return {
      label: g.label,
      data: stats.map((s, li) => ({ x: round(li + dx, 4), y: s ? round(s.mean * scale, 4) : null })),
      errors: stats.map((s) => (s && s.ci ? round(s.ci.half * scale, 4) : null)),
      counts: stats.map((s) => s?.n ?? 0),
      borderColor: g.color,
      backgroundColor: g.color,
      borderDash: g.variant ? DASHES[g.variant % DASHES.length]! : [],
      borderWidth: 2,
      pointRadius: 4.5,
    };
  });
  return {
    id,
    kind: "layers",
    format: scale === 100 ? "pct" : "rank",
    layers: agg.layers,
    config: {
      type: "line",
      data: { datasets },
      options: options(
        title,
        "h (backbone) to z (head output); mean over seeds, whiskers: 95 % CI of the mean",
        axis("layer", { type: "linear", min: -0.5, max: agg.layers.length - 0.5, ticks: { stepSize: 1 } }),
        axis(yTitle, yRange(datasets)),
      ),
    },
  };
}

/** Chart.js sizes the axis to the means only; widen it so the whiskers are not clipped. */
function yRange(datasets: Dataset[]): Record<string, number> {
  const ends = datasets.flatMap((d) =>
    d.data.flatMap((p, i) => (p.y === null ? [] : [p.y - (d.errors?.[i] ?? 0), p.y + (d.errors?.[i] ?? 0)])),
  );
  if (!ends.length) return {};
  const lo = Math.min(...ends);
  const hi = Math.max(...ends);
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.05;
  return { suggestedMin: round(lo - pad, 4), suggestedMax: round(hi + pad, 4) };
}

function spectrumChart(agg: Aggregate, layer: string): ChartSpec | null {
  const datasets: Dataset[] = [];
  for (const g of agg.groups) {
    const sv = g.layers.find((l) => l.layer === layer)?.singularValues ?? [];
    if (!sv.length) continue;
    datasets.push({
      label: g.label,
      // A log axis cannot show zeros; a collapsed direction shows as the line ending.
      data: sv.map((v, i) => ({ x: i + 1, y: v > 0 ? v : null })),
      borderColor: g.color,
      backgroundColor: g.color,
      borderDash: g.variant ? DASHES[g.variant % DASHES.length]! : [],
      borderWidth: 2,
      pointRadius: 0,
    });
  }
  if (!datasets.length) return null;
  const what = layer === "h" ? "backbone output h" : layer === "z" ? "head output z" : layer;
  return {
    id: `spectrum-${layer}`,
    kind: "spectrum",
    format: "sv",
    config: {
      type: "line",
      data: { datasets },
      options: options(
        `Singular value spectrum of ${what}`,
        "singular values of the embedding matrix, largest first, mean over seeds (log scale)",
        axis("singular value index", { type: "linear", min: 1, max: Math.max(...datasets.map((d) => d.data.length)) }),
        axis("singular value (log)", { type: "logarithmic" }),
      ),
    },
  };
}

/** Per layer: each method's mean paired difference to the baseline, whiskers its 95 % CI. */
function pairedChart(agg: Aggregate, metric: LayerMetric, id: string, what: string): ChartSpec | null {
  const comps = agg.comparisons.filter((c) => c.layers.some((l) => l.metrics[metric]));
  if (!comps.length) return null;
  const width = comps.length > 1 ? Math.min(0.4, 0.12 * (comps.length - 1)) : 0;
  const datasets: Dataset[] = comps.map((c, ci) => {
    const dx = comps.length > 1 ? -width / 2 + (width * ci) / (comps.length - 1) : 0;
    const stats = agg.layers.map((l) => c.layers.find((x) => x.layer === l)?.metrics[metric] ?? null);
    return {
      label: `${c.label} − ${c.baselineLabel ?? c.baseline}`,
      data: stats.map((s, li) => ({ x: round(li + dx, 4), y: s ? round(s.mean * 100, 4) : null })),
      errors: stats.map((s) => (s && s.ci ? round(s.ci.half * 100, 4) : null)),
      counts: stats.map((s) => s?.n ?? 0),
      borderColor: c.color,
      backgroundColor: c.color,
      borderWidth: 2,
      pointRadius: 4.5,
    };
  });
  // The zero line: where "no difference" lies, to read each whisker against.
  datasets.push({
    label: `0 = ${agg.baseline}`,
    data: [
      { x: -0.5, y: 0 },
      { x: agg.layers.length - 0.5, y: 0 },
    ],
    borderColor: "#888888",
    backgroundColor: "#888888",
    borderDash: [4, 4],
    borderWidth: 1,
    pointRadius: 0,
  });
  return {
    id,
    kind: "layers",
    format: "pp",
    layers: agg.layers,
    config: {
      type: "line",
      data: { datasets },
      options: options(
        `${what}: paired difference to ${agg.baseline}`,
        `mean over seeds of (method − ${agg.baseline}) on the same seed; whiskers: 95 % CI`,
        axis("layer", { type: "linear", min: -0.5, max: agg.layers.length - 0.5, ticks: { stepSize: 1 } }),
        axis("difference (percentage points)", yRange(datasets)),
      ),
    },
  };
}

// Layers from h to z: cool to warm, saturated enough to read as data on white.
const LAYER_PALETTE = ["#1f5fbf", "#17a2a2", "#5aa832", "#e0a100", "#e8602c", "#c2185b"];

export function layerColor(i: number, count: number): string {
  const p = LAYER_PALETTE.length;
  return LAYER_PALETTE[count <= 1 ? 0 : count <= p ? Math.round((i * (p - 1)) / (count - 1)) : i % p]!;
}

const DYNAMICS_TITLE: Record<DynamicsMetric, [title: string, axis: string, format: ValueFormat, scale: number]> = {
  knnTop1: ["kNN top-1", "kNN top-1 (%)", "pct", 100],
  effectiveRank: ["Effective rank (RankMe)", "RankMe", "rank", 1],
  alignment: ["Alignment", "alignment (lower: views closer)", "num", 1],
  uniformity: ["Uniformity", "uniformity (lower: more uniform)", "num", 1],
};

/**
 * One panel per metric and method group, one line per layer, x the epoch. Panels of a metric
 * share the y range so the methods compare side by side.
 */
function dynamicsCharts(agg: Aggregate): ChartSpec[] {
  const groups = agg.groups.filter((g) => g.dynamics && g.dynamics.epochs.length);
  if (!groups.length) return [];
  const layers = [...new Set(groups.flatMap((g) => g.dynamics!.layers))].sort(compareLayers);
  const out: ChartSpec[] = [];
  for (const metric of DYNAMICS_METRICS) {
    const [title, yTitle, format, scale] = DYNAMICS_TITLE[metric];
    const panels = groups.map((g) => {
      const d = g.dynamics!;
      const datasets: Dataset[] = d.layers.map((layer) => {
        const color = layerColor(layers.indexOf(layer), layers.length);
        return {
          label: layer,
          data: d.epochs.map((e, i) => {
            const v = d.series[metric][layer]![i];
            return { x: e, y: v === null || v === undefined ? null : round(v * scale, 4) };
          }),
          borderColor: color,
          backgroundColor: color,
          borderWidth: 2,
          pointRadius: 2.5,
        };
      });
      return { g, d, datasets };
    });
    if (!panels.some((p) => p.datasets.some((ds) => ds.data.some((pt) => pt.y !== null)))) continue;
    const range = yRange(panels.flatMap((p) => p.datasets));
    const maxEpoch = Math.max(...groups.flatMap((g) => g.dynamics!.epochs));
    panels.forEach(({ g, d, datasets }, gi) => {
      const runs = d.runs > 1 ? `mean of ${d.runs} runs` : "one run";
      const subset = d.subsetSize ? `, subset of ${d.subsetSize} images` : "";
      out.push({
        id: `dyn-${metric}-${gi}`,
        kind: "dynamics",
        format,
        group: g.label,
        metric,
        config: {
          type: "line",
          data: { datasets },
          options: options(
            `${title} over training · ${g.label}`,
            `one line per layer; ${runs}${subset}; epoch 0 = before the first step`,
            axis("epoch", { type: "linear", min: 0, max: maxEpoch, ticks: { precision: 0 } }),
            axis(yTitle, range),
          ),
        },
      });
    });
  }
  return out;
}

/** Every chart the report shows, in page order; charts without data are left out. */
export function chartSpecs(data: ReportData, agg: Aggregate): ChartSpec[] {
  return [
    layerChart(agg, "linearTop1", "layers-linear", "Linear probe accuracy per layer", "linear probe top-1 (%)", 100),
    layerChart(agg, "knnTop1", "layers-knn", "kNN accuracy per layer", "kNN top-1 (%)", 100),
    layerChart(agg, "effectiveRank", "layers-erank", "Effective rank (RankMe) per layer", "effective rank (RankMe)", 1),
    pairedChart(agg, "linearTop1", "paired-linear", "Linear probe"),
    pairedChart(agg, "knnTop1", "paired-knn", "kNN"),
    ...dynamicsCharts(agg),
    spectrumChart(agg, "h"),
    spectrumChart(agg, "z"),
    lossChart(data, agg),
    knnMonitorChart(data, agg),
  ].filter((c): c is ChartSpec => c !== null);
}
