// ExperimentError: every problem with an experiment file, all at once, each naming the field,
// the value found and what is allowed; `.issues` is the same list as data for --json output.
import type { core } from "zod";
import { fieldsAt } from "./schema.js";

export interface ExperimentIssue {
  /** Dotted path such as "method.name" or "model.head.hiddenDims[0]"; "" for the whole file. */
  path: string;
  /** The value found there (undefined when missing). */
  value: unknown;
  /** What is allowed, in words, with a "did you mean" hint when one is close. */
  expected: string;
}

/** not_found: no such file; syntax: YAML/JSON did not parse; invalid: values not allowed;
 *  unsupported: a file kind or module this loader cannot read. */
export type ExperimentErrorKind = "not_found" | "syntax" | "invalid" | "unsupported";

export class ExperimentError extends Error {
  override readonly name = "ExperimentError";
  readonly kind: ExperimentErrorKind;
  /** The file (as the user named it) or "experiment" for in-memory input. */
  readonly source: string;
  readonly issues: ExperimentIssue[];
  /** 1-based position of a syntax error, when known. */
  declare readonly line?: number;
  declare readonly col?: number;

  constructor(opts: {
    kind: ExperimentErrorKind;
    source: string;
    issues?: ExperimentIssue[];
    message?: string;
    line?: number;
    col?: number;
    cause?: unknown;
  }) {
    const issues = opts.issues ?? [];
    super(opts.message ?? issues.map((i) => formatIssue(opts.source, i)).join("\n"), { cause: opts.cause });
    this.kind = opts.kind;
    this.source = opts.source;
    this.issues = issues;
    if (opts.line !== undefined) this.line = opts.line;
    if (opts.col !== undefined) this.col = opts.col;
  }

  toJSON() {
    return {
      error: this.name,
      kind: this.kind,
      source: this.source,
      message: this.message,
      issues: this.issues,
      ...(this.line !== undefined ? { line: this.line, col: this.col } : {}),
    };
  }
}

export function formatIssue(source: string, issue: ExperimentIssue): string {
  const where = issue.path ? `${source}: ${issue.path}` : source;
  return `${where}: got ${formatValue(issue.value)}, expected ${issue.expected}`;
}

/** JSON of a value, shortened so one bad field cannot flood the terminal. */
export function formatValue(v: unknown): string {
  if (v === undefined) return "nothing";
  let s: string;
  try {
    s = typeof v === "bigint" || typeof v === "function" || typeof v === "symbol" ? String(v) : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** "model.head.hiddenDims[0]" from ["model", "head", "hiddenDims", 0]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    const key = String(seg);
    if (typeof seg === "number") out += `[${seg}]`;
    else if (!/^[A-Za-z_$][\w$-]*$/.test(key)) out += `[${JSON.stringify(key)}]`; // e.g. grid keys "method.name"
    else out += out ? `.${key}` : key;
  }
  return out;
}

export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

// Case, "_" and "-" are ignored so snake_case habits from the Python side find their field.
const norm = (s: string) => s.toLowerCase().replace(/[_\-\s]/g, "");

// Optimal string alignment distance: a swapped pair ("trian") counts as one edit.
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate when it is close enough to be a likely typo. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const n = norm(input);
  const exact = candidates.find((c) => norm(c) === n);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(n, norm(c));
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(1, Math.min(3, Math.floor(n.length / 3))) ? best : undefined;
}

export const hint = (input: unknown, candidates: readonly string[]): string => {
  const m = typeof input === "string" ? didYouMean(input, candidates) : undefined;
  return m !== undefined && m !== input ? ` (did you mean "${m}"?)` : "";
};

/**
 * zod issues -> ExperimentIssues. `input` is what was validated (to report the value found),
 * `at` is where that input sits in the experiment (for field lists of unknown keys) and
 * `label` prefixes the displayed path (e.g. `sweep.grid["seed"][0]`).
 */
export function fromZodIssues(
  issues: readonly core.$ZodIssue[],
  input: unknown,
  at: readonly (string | number)[] = [],
  label = "",
): ExperimentIssue[] {
  const show = (p: readonly PropertyKey[]) => {
    const rel = formatPath(p);
    if (!label) return rel;
    return rel ? (rel.startsWith("[") ? label + rel : `${label}.${rel}`) : label;
  };
  const out: ExperimentIssue[] = [];
  for (const iss of issues) {
    if (iss.code === "unrecognized_keys") {
      const known = fieldsAt([...at, ...(iss.path as (string | number)[])]);
      for (const key of iss.keys) {
        const p = [...iss.path, key];
        out.push({
          path: show(p),
          value: valueAt(input, p),
          expected: `a known field (${known.join(", ")})${hint(key, known)}`,
        });
      }
      continue;
    }
    const value = valueAt(input, iss.path);
    const allowed = iss.code === "invalid_value" ? iss.values.filter((v): v is string => typeof v === "string") : [];
    out.push({ path: show(iss.path), value, expected: iss.message + hint(value, allowed) });
  }
  return out;
}
