// The paired comparisons as tables: the declared primary comparison first, then every cell of
// the linear probe and kNN (exploratory unless primary) with its interval, p-values before and
// after Holm's adjustment, the minimum detectable effect and, given δ, the seeds it needs; and
// the seeds that were not counted as they stand (duplicates, seeds of one side only).
import type { Aggregate, Comparison, LayerMetric, PairedCell } from "./aggregate.js";
import { fmtInterval, fmtSigned, MISSING, notes, UNTRAINED, UNTRAINED_NOTE, type Cell, type Table } from "./cells.js";
import { flagNotes, marksOf } from "./flags.js";
import { MAX_SEEDS, seedsNeeded, UNDECIDED } from "./stats.js";

export interface PairedOptions {
  /** The effect size (percentage points) to plan seeds for: `--mde`, else the protocol's delta. */
  delta?: number | null;
}

export const PAIRED_METRICS: { metric: "linearTop1" | "knnTop1"; name: string; title: string }[] = [
  { metric: "linearTop1", name: "linear", title: "linear probe" },
  { metric: "knnTop1", name: "kNN", title: "kNN" },
];

/** Accuracies are fractions; the paired tables speak percentage points. */
const PP = 100;

export function fmtP(p: number | null): string {
  if (p === null) return MISSING;
  return p < 0.001 ? "<0.001" : p.toFixed(3);
}

/** Verdicts that claim something stand out; the undecided ones are dimmed. */
function verdictCell(p: PairedCell): Cell {
  const decided = !UNDECIDED.includes(p.verdict);
  return { text: p.verdict, best: decided && p.verdict !== "worse", bad: p.verdict === "worse", muted: !decided };
}

/** Seeds for the stated δ at this cell's paired sd; "-" without an sd, ">1000" beyond the search. */
function seedsCell(p: PairedCell, agg: Aggregate, delta: number): Cell {
  if (p.std === null || !(p.std > 0)) return { text: MISSING, muted: true };
  const n = seedsNeeded(p.std * PP, delta, agg.families.alpha, agg.power);
  return { text: n === null ? `>${MAX_SEEDS}` : String(n), bad: n === null || n > p.n };
}

/** Δ, CI, MDE, [seeds for δ], p, p (Holm), verdict of one cell. */
function statCells(p: PairedCell | null, agg: Aggregate, delta: number | null): Cell[] {
  const width = delta ? 7 : 6;
  if (!p) return Array.from({ length: width }, (_, i): Cell => ({ text: i < 2 ? MISSING : "", muted: true }));
  return [
    { text: fmtSigned(p.mean * PP, 1) + marksOf(p.flags) },
    { text: fmtInterval(p.ci, PP) },
    { text: p.mde === null ? MISSING : (p.mde * PP).toFixed(1), muted: p.mde === null },
    ...(delta ? [seedsCell(p, agg, delta)] : []),
    { text: fmtP(p.p), muted: p.p === null },
    { text: fmtP(p.pAdjusted), muted: p.pAdjusted === null },
    verdictCell(p),
  ];
}

function statHeader(delta: number | null): string[] {
  return ["Δ", "95 % CI", "MDE", ...(delta ? [`seeds for δ=${delta}`] : []), "p", "p (Holm)", "verdict"];
}

function withVs(agg: Aggregate): boolean {
  return agg.comparisons.some((c) => c.baselineLabel && c.baselineLabel !== c.baseline);
}

function lead(c: Comparison, vs: boolean): Cell[] {
  return [{ text: c.label, color: c.color }, ...(vs ? [{ text: c.baselineLabel ?? c.baseline }] : [])];
}

function mdeNote(agg: Aggregate): string {
  return `MDE = smallest effect the test detects at ${agg.power * 100} % power: (t(1 − α/2, n − 1) + t(${agg.power}, n − 1)) · sd / √n, α = ${agg.families.alpha}`;
}

const P_NOTE = "p = two-sided paired t-test of Δ = 0";
const NO_SPREAD_NOTE = "identical per-seed differences (sd 0) or a single pair decide nothing";

export function metricName(m: LayerMetric): string {
  return PAIRED_METRICS.find((x) => x.metric === m)?.title ?? m;
}

/** The declared primary comparison: one row per group of its method (Holm among them if several). */
export function primaryTable(agg: Aggregate, opts: PairedOptions = {}): Table | null {
  const pr = agg.primary;
  if (pr.baseline !== agg.baseline) return null;
  const rows = agg.comparisons
    .filter((c) => c.method === pr.method)
    .map((c) => {
      const l = c.layers.find((x) => x.layer === pr.layer);
      const p = l && !l.untrained ? l.metrics[pr.metric] : null;
      return [...lead(c, true), { text: String(p?.n ?? 0), muted: !p }, ...statCells(p, agg, opts.delta ?? null)];
    });
  if (!rows.length) return null;
  const delta = opts.delta ?? null;
  return {
    id: "primary",
    title: `Primary comparison: ${pr.method} − ${pr.baseline}, ${metricName(pr.metric)} at ${pr.layer}, percentage points`,
    note: notes(
      "declared in advance; every other cell below is exploratory",
      agg.families.primary > 1 && `${agg.families.primary} groups of ${pr.method}: p (Holm) over these ${agg.families.primary}`,
      P_NOTE,
      `verdict from p (Holm) < ${agg.families.alpha}`,
      mdeNote(agg),
      delta !== null && `seeds for δ = smallest n with MDE ≤ ${delta} points at the observed sd (more than the pairs: too few seeds for δ)`,
      NO_SPREAD_NOTE,
      ...flagNotes(agg.comparisons.filter((c) => c.method === pr.method).flatMap((c) => c.layers.find((l) => l.layer === pr.layer)?.metrics[pr.metric]?.flags ?? [])),
    ),
    header: ["method", "vs", "pairs", ...statHeader(delta)],
    align: ["l", "l", "r", "r", "r", "r", ...(delta ? ["r" as const] : []), "r", "r", "l"],
    rows,
  };
}

/**
 * One table per metric (linear probe, kNN): a row per method group and layer, the per-seed
 * difference to the baseline with every statistic of the cell, primary or exploratory.
 */
export function pairedTables(agg: Aggregate, opts: PairedOptions = {}): Table[] {
  // Without any run of the baseline method there is nothing to pair with (renderText says so).
  if (!agg.comparisons.some((c) => c.baselineKey) || !agg.layers.length) return [];
  const vs = withVs(agg);
  const delta = opts.delta ?? null;
  const untrained = agg.comparisons.some((c) => c.layers.some((l) => l.untrained));
  return PAIRED_METRICS.map(({ metric, title }) => {
    const rows: Cell[][] = [];
    for (const c of agg.comparisons) {
      if (c.note && !c.pairs.length) {
        const blank = statHeader(delta).slice(1).map((): Cell => ({ text: "", muted: true }));
        const why: Cell[] = [{ text: MISSING, muted: true }, { text: "0", muted: true }, { text: "", muted: true }, ...blank, { text: c.note, muted: true }];
        rows.push([...lead(c, vs), ...why]);
        continue;
      }
      for (const l of c.layers) {
        const p = l.metrics[metric];
        const lineLead = [...lead(c, vs), { text: l.layer }];
        if (l.untrained) {
          rows.push([...lineLead, { text: UNTRAINED, muted: true }, { text: "", muted: true }, { text: UNTRAINED, muted: true }]);
          continue;
        }
        const family: Cell = { text: p?.role ?? "", muted: p?.role !== "primary" };
        rows.push([...lineLead, { text: String(p?.n ?? 0), muted: !p }, family, ...statCells(p, agg, delta)]);
      }
    }
    return {
      id: `paired-${metric === "linearTop1" ? "linear" : "knn"}`,
      title: `Paired difference to ${agg.baseline} (same seed): ${title}, percentage points`,
      note: notes(
        `Δ = mean over seeds of (method − ${agg.baseline}) on runs that differ only in the method`,
        "95 % CI = t-interval of that mean",
        P_NOTE,
        `p (Holm) = adjusted over the ${agg.families.exploratory} exploratory cells (every method, layer and metric but the primary)`,
        `verdict from p (Holm) < ${agg.families.alpha}: better / worse, else no difference shown`,
        mdeNote(agg),
        delta !== null && `seeds for δ = smallest n with MDE ≤ ${delta} points at the observed sd (more than the pairs: too few seeds for δ)`,
        NO_SPREAD_NOTE,
        untrained && UNTRAINED_NOTE,
        ...flagNotes(agg.comparisons.flatMap((c) => c.layers.flatMap((l) => l.metrics[metric]?.flags ?? []))),
      ),
      header: ["method", ...(vs ? ["vs"] : []), "layer", "pairs", "family", ...statHeader(delta)],
      align: ["l", ...(vs ? ["l" as const] : []), "l", "r", "l", "r", "r", "r", ...(delta ? ["r" as const] : []), "r", "r", "l"],
      rows,
    };
  });
}

/** Every seed not counted as it stands: duplicates of a seed, seeds of one side only, a side without a value. */
export function seedTable(agg: Aggregate): Table | null {
  const rows: Cell[][] = [];
  for (const g of agg.groups) {
    for (const d of g.duplicateSeeds) {
      rows.push([{ text: g.label, color: g.color }, { text: String(d.seed) }, { text: d.runIds.join(", ") }, { text: `duplicate seed (pseudo-replication): counted once, as ${d.kept}`, bad: true }]);
    }
  }
  for (const c of agg.comparisons) {
    for (const u of c.unmatched) {
      const why = u.side === "method" ? `no ${c.baselineLabel ?? c.baseline} run with this seed: not paired` : `${c.baselineLabel ?? c.baseline} run without a ${c.label} partner: not paired`;
      rows.push([{ text: c.label, color: c.color }, { text: String(u.seed) }, { text: u.runId }, { text: why, bad: true }]);
    }
    for (const l of c.layers) {
      for (const [m, seeds] of Object.entries(l.missingSeeds)) {
        for (const s of seeds) {
          rows.push([{ text: c.label, color: c.color }, { text: String(s) }, { text: "" }, { text: `${m} at ${l.layer}: no value on one side, left out of that cell`, bad: true }]);
        }
      }
    }
  }
  if (!rows.length) return null;
  return {
    id: "seeds",
    title: "Seeds not counted as they stand",
    note: "a seed counts once per group; a pair needs the seed on both sides",
    header: ["group", "seed", "runs", "why"],
    align: ["l", "r", "l", "l"],
    rows,
  };
}
