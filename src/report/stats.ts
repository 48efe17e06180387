// Statistics over seeds: mean, sample standard deviation and the 95 % t-interval of the mean;
// and the paired difference of two methods trained on the same seeds, with a verdict read from
// the interval of the per-seed differences alone.
import jStat from "jstat";

/** Two-sided confidence level of every interval in the report. */
export const CONFIDENCE = 0.95;

export interface Interval {
  lo: number;
  hi: number;
  /** Half-width: t(0.975, n - 1) · std / √n. */
  half: number;
}

export interface Stat {
  mean: number;
  /** Sample standard deviation (n - 1); null with a single value, where it is undefined. */
  std: number | null;
  n: number;
  /** 95 % t-interval of the mean; null with a single value. */
  ci: Interval | null;
}

/** Which way a metric improves; null: neither (effective rank: more is not simply better). */
export type Direction = "higher" | "lower" | null;

export type Verdict = "better" | "worse" | "higher" | "lower" | "no difference shown" | "one seed cannot decide";

export interface PairedStat extends Stat {
  /** The per-seed differences (method − baseline), in seed order. */
  diffs: { seed: number | null; value: number }[];
  verdict: Verdict;
}

/** Quantile of Student's t distribution with `df` degrees of freedom (jstat's inverse CDF). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`tQuantile: df must be > 0, got ${df}`);
  return jStat.studentt.inv(p, df);
}

/** Mean, sample std and 95 % t-interval of the finite values; null when there are none. */
export function meanStd(values: number[]): Stat | null {
  const v = values.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (!n) return null;
  const mean = v.reduce((s, x) => s + x, 0) / n;
  if (n === 1) return { mean, std: null, n, ci: null };
  const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile(1 - (1 - CONFIDENCE) / 2, n - 1) * std) / Math.sqrt(n);
  return { mean, std, n, ci: { lo: mean - half, hi: mean + half, half } };
}

/**
 * The paired difference method − baseline over seeds. The verdict comes from the interval only:
 * entirely above zero is "better" (for a metric where higher is better), entirely below "worse",
 * touching or containing zero "no difference shown"; with one pair there is no interval and
 * "one seed cannot decide". For a metric without a direction the words are "higher"/"lower".
 */
export function pairedDifference(
  diffs: { seed: number | null; value: number }[],
  direction: Direction,
): PairedStat | null {
  const d = diffs.filter((x) => Number.isFinite(x.value));
  const s = meanStd(d.map((x) => x.value));
  if (!s) return null;
  return { ...s, diffs: d, verdict: verdictOf(s, direction) };
}

export function verdictOf(s: Stat, direction: Direction): Verdict {
  if (!s.ci) return "one seed cannot decide";
  const up = s.ci.lo > 0;
  const down = s.ci.hi < 0;
  if (!up && !down) return "no difference shown";
  if (direction === null) return up ? "higher" : "lower";
  return up === (direction === "higher") ? "better" : "worse";
}
