// The floors every representation must clear: a linear probe and kNN on the raw pixels and on
// the backbone at its random initialisation (eval.json's `baselines`, same splits and probe), and
// the SSL gain over each, h minus the floor of the same run, over the group's seeds.
import type { LayerEval, RunData } from "./model.js";
import { meanStd, pairedDifference, type PairedStat, type Stat } from "./stats.js";

/** eval.json's baseline layers, in the order the report shows them. */
export const FLOOR_LAYERS = ["pixels", "h@init"] as const;
export const FLOOR_METRICS = ["linearTop1", "knnTop1"] as const;
export type FloorMetric = (typeof FLOOR_METRICS)[number];

export interface FloorAggregate {
  /** "pixels" or "h@init". */
  layer: string;
  /** Mean over the group's runs of the floor itself. */
  stats: Record<FloorMetric, Stat | null>;
  /** h − floor within each run, over the seeds; null where no run has both. */
  gain: Record<FloorMetric, PairedStat | null>;
}

/** An accuracy, null where absent or not computed (< 0 in the contract). */
export function accuracy(l: LayerEval | undefined, m: FloorMetric): number | null {
  const v = l?.[m];
  return v === undefined || !Number.isFinite(v) || v < 0 ? null : v;
}

/** The floors of the runs that recorded them; [] when none did (older eval.json). */
export function floorsOf(runs: RunData[]): FloorAggregate[] {
  return FLOOR_LAYERS.filter((layer) => runs.some((r) => r.eval?.baselines.some((b) => b.layer === layer))).map((layer) => {
    const stats = {} as FloorAggregate["stats"];
    const gain = {} as FloorAggregate["gain"];
    for (const m of FLOOR_METRICS) {
      const floor = (r: RunData) => accuracy(r.eval?.baselines.find((b) => b.layer === layer), m);
      const h = (r: RunData) => accuracy(r.eval?.layers.find((l) => l.layer === "h"), m);
      stats[m] = meanStd(runs.map((r) => floor(r) ?? Number.NaN));
      gain[m] = pairedDifference(
        runs.flatMap((r) => {
          const f = floor(r);
          const v = h(r);
          return f === null || v === null ? [] : [{ seed: r.seed, value: v - f }];
        }),
        "higher",
      );
    }
    return { layer, stats, gain };
  });
}
