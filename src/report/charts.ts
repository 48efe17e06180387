// Chart descriptions as plain JSON (Chart.js configs without functions). The page script in
// html.ts adds the formatters, so the data stays inspectable in the HTML and testable here.
import { layerStat, type Aggregate, type GroupAggregate, type LayerMetric } from "./aggregate.js";
import type { ReportData } from "./model.js";

export type ValueFormat = "pct" | "loss" | "rank" | "sv";

export interface ChartSpec {
  id: string;
  /** "layers": x is a layer index whose ticks show layer names (see `layers`). */
  kind: "curve" | "layers" | "spectrum";
  format: ValueFormat;
  /** Layer names for the ticks of a "layers" chart, backbone first. */
  layers?: string[];
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
  /** Error half-widths (std over seeds) aligned with data; drawn as whiskers. */
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
        "InfoNCE of the outer (backbone) step, from step events",
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
      r.epochCurve
        .filter((e) => e.knnTop1 !== null)
        .map((e) => ({ x: e.epoch, y: round(e.knnTop1! * 100, 3) })),
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
        "weighted kNN top-1 on backbone features h (k=200, τ=0.1, cosine), at epoch end",
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
      errors: stats.map((s) => (s && s.std !== null ? round(s.std * scale, 4) : null)),
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
        "per layer from backbone (h) to head output (z); mean over seeds, whiskers ± 1 std",
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
        "singular values of the feature covariance, largest first, mean over seeds (log scale)",
        axis("singular value index", { type: "linear", min: 1, max: Math.max(...datasets.map((d) => d.data.length)) }),
        axis("singular value (log)", { type: "logarithmic" }),
      ),
    },
  };
}

/** Every chart the report shows, in page order; charts without data are left out. */
export function chartSpecs(data: ReportData, agg: Aggregate): ChartSpec[] {
  return [
    layerChart(agg, "linearTop1", "layers-linear", "Linear probe accuracy per layer", "linear probe top-1 (%)", 100),
    layerChart(agg, "knnTop1", "layers-knn", "kNN accuracy per layer", "kNN top-1 (%)", 100),
    layerChart(agg, "effectiveRank", "layers-erank", "Effective rank per layer", "effective rank", 1),
    spectrumChart(agg, "h"),
    spectrumChart(agg, "z"),
    lossChart(data, agg),
    knnMonitorChart(data, agg),
  ].filter((c): c is ChartSpec => c !== null);
}
