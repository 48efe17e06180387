// The floors as tables: what raw pixels and the random-init backbone reach with the same probe
// and kNN, and what training added at h over each (same run, same splits).
import { layerStat, type Aggregate } from "./aggregate.js";
import { fmtInterval, fmtSigned, fmtStat, groupCells, MISSING, notes, type Cell, type Table } from "./cells.js";
import { FLOOR_LAYERS, FLOOR_METRICS, type FloorMetric } from "./floors.js";
import type { PairedStat } from "./stats.js";

const METRIC_NAME: Record<FloorMetric, string> = { linearTop1: "linear", knnTop1: "kNN" };

function floorLayers(agg: Aggregate): string[] {
  return FLOOR_LAYERS.filter((l) => agg.groups.some((g) => g.floors.some((f) => f.layer === l)));
}

/** Per group: each floor's linear and kNN top-1, next to h's. */
export function floorTable(agg: Aggregate): Table | null {
  const layers = floorLayers(agg);
  if (!layers.length) return null;
  const cols = [...layers, "h"].flatMap((layer) => FLOOR_METRICS.map((m) => ({ layer, m })));
  return {
    id: "floors",
    title: "Floors: raw pixels and the random-init backbone, top-1 (%)",
    note: notes(
      "pixels = the standardised raw pixels; h@init = the backbone at its random initialisation (same seed)",
      "same splits, same probe protocol and kNN as every layer",
      "mean ± sample std over seeds",
    ),
    header: ["method", "n", ...cols.map((c) => `${c.layer} ${METRIC_NAME[c.m]}`)],
    align: ["l", "r", ...cols.map(() => "r" as const)],
    rows: agg.groups.map((g) => [
      ...groupCells(g),
      ...cols.map(({ layer, m }): Cell => {
        const s = layer === "h" ? layerStat(g, "h", m) : (g.floors.find((f) => f.layer === layer)?.stats[m] ?? null);
        return { text: fmtStat(s, 1, 100, { ci: false }), muted: !s };
      }),
    ]),
  };
}

function gainCell(p: PairedStat | null): Cell {
  if (!p) return { text: MISSING, muted: true };
  const ci = p.ci ? ` ${fmtInterval(p.ci, 100)}` : "";
  return { text: fmtSigned(p.mean * 100, 1) + ci, bad: p.verdict === "worse", best: p.verdict === "better" };
}

/** Per group: h − floor within each run, over the seeds, with its 95 % interval. */
export function gainTable(agg: Aggregate): Table | null {
  const layers = floorLayers(agg);
  if (!layers.length) return null;
  const cols = layers.flatMap((layer) => FLOOR_METRICS.map((m) => ({ layer, m })));
  return {
    id: "gains",
    title: "SSL gain at h over the floors, percentage points",
    note: notes(
      "h − floor of the same run, mean over seeds [95 % t-interval]",
      "unadjusted: a floor is a check the representation must pass, not one of the compared cells",
    ),
    header: ["method", "n", ...cols.map((c) => `${METRIC_NAME[c.m]} − ${c.layer}`)],
    align: ["l", "r", ...cols.map(() => "r" as const)],
    rows: agg.groups.map((g) => [
      ...groupCells(g),
      ...cols.map(({ layer, m }) => gainCell(g.floors.find((f) => f.layer === layer)?.gain[m] ?? null)),
    ]),
  };
}
