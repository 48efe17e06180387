// The report's table model (title, header, cells) and the number formats every table shares.
// table.ts renders it as aligned text, html.ts as HTML: one model keeps the two in agreement.
import type { GroupAggregate } from "./aggregate.js";
import type { Interval, Stat } from "./stats.js";

export interface Cell {
  text: string;
  /** Best value of its column (higher accuracy); bold in a TTY and in HTML. */
  best?: boolean;
  /** Missing / not applicable; dimmed. */
  muted?: boolean;
  /** Failed run or similar; red in a TTY. */
  bad?: boolean;
  /** Group colour, as a swatch in HTML. */
  color?: string;
}

export interface Table {
  id: string;
  title: string;
  note?: string;
  header: string[];
  align: ("l" | "r")[];
  rows: Cell[][];
}

export const MISSING = "-";
/** A layer the method does not train: not evaluated, not compared. */
export const UNTRAINED = "—";
export const UNTRAINED_NOTE = "— = head not trained by this method: not evaluated, not compared";

export function fmtPct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? MISSING : (x * 100).toFixed(1);
}

/**
 * "mean ± std [lo, hi]" with `digits` decimals, [lo, hi] the 95 % t-interval of the mean;
 * `ci: false` leaves the interval out. A single seed has neither std nor interval: the mean only.
 */
export function fmtStat(s: Stat | null, digits: number, scale = 1, opts: { ci?: boolean } = {}): string {
  if (!s) return MISSING;
  const f = (x: number) => (x * scale).toFixed(digits);
  if (s.std === null) return f(s.mean);
  const ci = opts.ci !== false && s.ci ? ` [${f(s.ci.lo)}, ${f(s.ci.hi)}]` : "";
  return `${f(s.mean)} ± ${f(s.std)}${ci}`;
}

/** A signed number: "+2.0", "-1.5"; what rounds to zero is unsigned "0.0". */
export function fmtSigned(x: number, digits: number): string {
  const t = Math.abs(x).toFixed(digits);
  return Number(t) === 0 ? t : (x > 0 ? "+" : "-") + t;
}

export function fmtCount(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return MISSING;
  return Math.round(x).toLocaleString("en-US");
}

export function fmtDuration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return MISSING;
  if (sec < 59.95) return `${sec.toFixed(1)}s`;
  // Round once, at the unit shown, so 2399.6 s reads "40m 00s", never "39m 60s".
  const pad = (n: number) => String(n).padStart(2, "0");
  const whole = Math.round(sec);
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${pad(whole % 60)}s`;
  const minutes = Math.round(sec / 60);
  return `${Math.floor(minutes / 60)}h ${pad(minutes % 60)}m`;
}

/** The non-empty parts of a note, joined the way renderTextTable wraps them. */
export function notes(...parts: (string | false | undefined)[]): string {
  return parts.filter((p): p is string => !!p).join("; ");
}

/** A signed interval "[-0.5, +4.5]" (scaled: 100 for percentage points), "-" without one. */
export function fmtInterval(ci: Interval | null, scale: number, digits = 1): string {
  return ci ? `[${fmtSigned(ci.lo * scale, digits)}, ${fmtSigned(ci.hi * scale, digits)}]` : MISSING;
}

/** The first two cells of a row per group: its label (with its colour) and its evaluated runs. */
export function groupCells(g: GroupAggregate): Cell[] {
  return [
    { text: g.label, color: g.color },
    { text: String(g.evaluated), muted: g.evaluated === 0 },
  ];
}
