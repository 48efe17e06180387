// Statistics over seeds: mean, sample standard deviation and the 95 % t-interval of the mean;
// the paired difference of two methods trained on the same seeds, with a verdict read from the
// interval of the per-seed differences alone, its paired t-test p-value and the minimum
// detectable effect; Holm's step-down adjustment for a family of such comparisons.
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

/** Power and size of the tests the verdicts and detectable effects are read at. */
export const ALPHA = 0.05; // 1 − CONFIDENCE, written out: 1 − 0.95 is 0.050000000000000044 in floats
export const POWER = 0.8;

export type Verdict =
  | "better"
  | "worse"
  | "higher"
  | "lower"
  | "no difference shown"
  | "one seed cannot decide"
  | "cannot decide (no spread)";

/** Verdicts that claim nothing: a dimmed cell, never counted as a finding. */
export const UNDECIDED: readonly Verdict[] = ["no difference shown", "one seed cannot decide", "cannot decide (no spread)"];

export interface PairedStat extends Stat {
  /** The per-seed differences (method − baseline), in seed order. */
  diffs: { seed: number | null; value: number }[];
  /** Read from the 95 % interval alone (unadjusted). */
  verdict: Verdict;
  /** Two-sided paired t-test of mean 0; null without an interval (one pair, or no spread). */
  p: number | null;
  /** Minimum detectable effect at 80 % power for this n and paired sd; null likewise. */
  mde: number | null;
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
  const spread = hasSpread(s, d.map((x) => x.value));
  return {
    ...s,
    diffs: d,
    verdict: verdictOf(s, direction, d.map((x) => x.value)),
    p: spread ? pairedP(s.mean, s.std!, s.n) : null,
    mde: spread ? mde(s.std!, s.n) : null,
  };
}

/**
 * A zero-width interval (identical per-seed differences, e.g. a run paired with a copy of
 * itself, or a metric that does not depend on the seed) is not certainty: it estimates no
 * spread at all, so it cannot decide either way.
 */
export function verdictOf(s: Stat, direction: Direction, values: number[] = [s.mean]): Verdict {
  if (!s.ci) return "one seed cannot decide";
  if (!hasSpread(s, values)) return "cannot decide (no spread)";
  return directionalVerdict(s.ci.lo > 0, s.ci.hi < 0, direction);
}

/**
 * Whether the values spread at all. Differences of equal accuracies computed in floating point
 * (0.83 − 0.82 against 0.82 − 0.81) differ in the last bits: an sd below 1e-12 of the values'
 * scale is rounding, not spread.
 */
export function hasSpread(s: Stat, values: number[]): boolean {
  const scale = Math.max(1, ...values.map(Math.abs));
  return s.std !== null && s.std > 1e-12 * scale;
}

/** The words for an effect shown above (up) or below (down) zero, or neither. */
export function directionalVerdict(up: boolean, down: boolean, direction: Direction): Verdict {
  if (!up && !down) return "no difference shown";
  if (direction === null) return up ? "higher" : "lower";
  return up === (direction === "higher") ? "better" : "worse";
}

/** Two-sided p-value of the paired t-test: t = mean / (sd / √n), n − 1 degrees of freedom. */
export function pairedP(mean: number, sd: number, n: number): number {
  const t = Math.abs(mean) / (sd / Math.sqrt(n));
  return Math.min(1, 2 * (1 - jStat.studentt.cdf(t, n - 1)));
}

/**
 * Minimum detectable effect of a two-sided paired t-test at level `alpha` with power `power`:
 * (t(1 − α/2, n − 1) + t(power, n − 1)) · s / √n (the normal-approximation formula with t
 * quantiles, as DESIGN §10 states it). Null for n < 2, where no sd exists.
 */
export function mde(sd: number, n: number, alpha = ALPHA, power = POWER): number | null {
  if (n < 2) return null;
  return ((tQuantile(1 - alpha / 2, n - 1) + tQuantile(power, n - 1)) * sd) / Math.sqrt(n);
}

/** Seeds searched by seedsNeeded before it gives up: beyond this a study is not planned by it. */
export const MAX_SEEDS = 1000;

/** Smallest n >= 2 whose MDE at the observed sd is at most delta; null if none up to MAX_SEEDS. */
export function seedsNeeded(sd: number, delta: number, alpha = ALPHA, power = POWER): number | null {
  if (!(delta > 0) || !Number.isFinite(sd)) return null;
  for (let n = 2; n <= MAX_SEEDS; n++) if (mde(sd, n, alpha, power)! <= delta) return n;
  return null;
}

/**
 * Holm's step-down adjustment (controls the family-wise error rate of the family): sort the m
 * p-values ascending, p(i) becomes max over j <= i of min(1, (m − j + 1) · p(j)). Nulls (cells
 * without a test) are not members of the family and stay null.
 */
export function holm(ps: (number | null)[]): (number | null)[] {
  const idx = ps.map((p, i) => [p, i] as const).filter((x): x is readonly [number, number] => x[0] !== null);
  idx.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: (number | null)[] = ps.map(() => null);
  let running = 0;
  idx.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, (idx.length - rank) * p));
    out[i] = running;
  });
  return out;
}
