// The declared primary comparison and the rest. With about a hundred cells (methods × layers ×
// metrics) some read "better" or "worse" by chance at 5 % each; the one comparison the study
// names in advance is read at its own level, every other cell is exploratory and its verdict
// comes from Holm-adjusted p-values over all of them (family-wise error at most α).
import type { EvalFlag } from "./flags.js";
import { directionalVerdict, holm, type Direction, type PairedStat, type Verdict } from "./stats.js";

export type Role = "primary" | "exploratory";

/** A paired cell as the report reads it: the interval's verdict, and the one after adjustment. */
export interface PairedCell extends PairedStat {
  role: Role;
  /** Holm-adjusted p within its family (primary cells, or every exploratory cell); null without a test. */
  pAdjusted: number | null;
  /** Cells in its family (with a test). */
  familySize: number;
  /** From the 95 % interval alone, before any adjustment. */
  ciVerdict: Verdict;
  /** The verdict the report stands behind: from pAdjusted < α (the interval's when no test exists). */
  verdict: Verdict;
  /** Evaluation flags of the runs behind the cell that concern its metric (flags.ts). */
  flags: EvalFlag[];
}

/** The one comparison the study declares in advance (a protocol file's `primary`). */
export interface PrimarySpec {
  method: string;
  baseline: string;
  metric: "linearTop1" | "knnTop1";
  layer: string;
}

/** Without a protocol: the paper's method against the baseline, linear probe at h. */
export function defaultPrimary(baseline: string): PrimarySpec {
  return { method: "bilevel", baseline, metric: "linearTop1", layer: "h" };
}

export interface CellRef {
  cell: PairedCell;
  direction: Direction;
  /** A cell of the declared primary comparison. */
  primary: boolean;
}

export interface Families {
  /** Cells of the primary comparison with a test (several when several groups of its method exist). */
  primary: number;
  exploratory: number;
  alpha: number;
}

/** Sets role, pAdjusted, familySize and verdict of every cell, one Holm family per role. */
export function adjustFamilies(cells: CellRef[], alpha: number): Families {
  const sizes = { primary: 0, exploratory: 0 };
  for (const role of ["primary", "exploratory"] as const) {
    const members = cells.filter((c) => (c.primary ? "primary" : "exploratory") === role);
    const adjusted = holm(members.map((m) => m.cell.p));
    sizes[role] = adjusted.filter((p) => p !== null).length;
    members.forEach((m, i) => {
      const c = m.cell;
      c.role = role;
      c.pAdjusted = adjusted[i]!;
      c.verdict =
        c.pAdjusted === null ? c.ciVerdict : directionalVerdict(c.pAdjusted < alpha && c.mean > 0, c.pAdjusted < alpha && c.mean < 0, m.direction);
    });
    members.forEach((m) => (m.cell.familySize = sizes[role]));
  }
  return { ...sizes, alpha };
}

/** A cell before adjustment: exploratory, its verdict the interval's. */
export function unadjusted(p: PairedStat, flags: EvalFlag[]): PairedCell {
  return { ...p, role: "exploratory", pAdjusted: null, familySize: 0, ciVerdict: p.verdict, flags };
}
