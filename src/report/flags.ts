// Evaluations the report cannot take at their word: a probe stopped at its cap, and what older
// eval.json files do not say (whether the probe converged, whether its L2 was chosen on a
// validation split, which rank definition they used). Each is a footnote mark on every cell it
// touches, in the per-layer tables and the paired ones alike; nothing is silently trusted.
import type { LayerEval, RunData } from "./model.js";

export type EvalFlag = "probeUnconverged" | "probeUnknown" | "probeL2Fixed" | "rankUnknown";

export const EVAL_FLAGS: { flag: EvalFlag; mark: string; metric: "linearTop1" | "effectiveRank"; note: string }[] = [
  { flag: "probeUnconverged", mark: "*", metric: "linearTop1", note: "* the probe of at least one run stopped at its iteration cap before converging" },
  // A missing probeConverged is an older file's silence, not a converged probe.
  { flag: "probeUnknown", mark: "†", metric: "linearTop1", note: "† probe convergence unknown (an older eval.json that does not record it)" },
  { flag: "probeL2Fixed", mark: "‡", metric: "linearTop1", note: "‡ probe L2 fixed (no validation selection)" },
  { flag: "rankUnknown", mark: "§", metric: "effectiveRank", note: "§ old/unknown rank definition (an eval.json without rankDefinition)" },
];

/** The flags of one run's evaluation of one layer. */
export function flagsOf(l: LayerEval, run: RunData): EvalFlag[] {
  const on: Record<EvalFlag, boolean> = {
    probeUnconverged: l.probeConverged === false,
    probeUnknown: l.probeConverged === undefined,
    probeL2Fixed: !run.eval?.protocol,
    rankUnknown: run.eval?.rankDefinition === undefined,
  };
  return EVAL_FLAGS.map((f) => f.flag).filter((f) => on[f]);
}

/** The flags among `flags` that concern `metric`. */
export function flagsFor(flags: Iterable<EvalFlag>, metric: string): EvalFlag[] {
  const set = new Set(flags);
  return EVAL_FLAGS.filter((f) => f.metric === metric && set.has(f.flag)).map((f) => f.flag);
}

/** "†‡" for the flags given, in the footnotes' order. */
export function marksOf(flags: readonly EvalFlag[]): string {
  return EVAL_FLAGS.filter((f) => flags.includes(f.flag)).map((f) => f.mark).join("");
}

/** The footnotes of the flags that occur. */
export function flagNotes(flags: Iterable<EvalFlag>): string[] {
  const set = new Set(flags);
  return EVAL_FLAGS.filter((f) => set.has(f.flag)).map((f) => f.note);
}
