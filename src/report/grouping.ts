// Which runs form one group: the same method and the same resolved spec apart from the seed and
// the run's own names. Keying by the sweep's overrides alone merged runs of different base files
// (a screening and a finals file differing in the head optimizer) into one group; the spec says
// what actually ran. A group is labelled by the fields that differ between the report's runs.
import type { RunData } from "./model.js";

export function isSeedKey(k: string): boolean {
  return k === "seed" || k.endsWith(".seed");
}

function isMethodKey(k: string): boolean {
  // The method is already the first grouping key; repeating it in labels is noise.
  return k === "method" || k === "method.name";
}

/**
 * The method a setting belongs to ("method.bilevel.innerSteps": bilevel), null when it is shared
 * by every method. A method's options change nothing for the others (a joint run's spec carries
 * bilevel's defaults all the same): they neither split nor label the other methods' groups.
 */
export function optionOwner(k: string): string | null {
  if (k === "method.directclrDim") return "directclr";
  return /^method\.([A-Za-z_]+)\./.exec(k)?.[1] ?? null;
}

/** The run's settings (its spec, else its overrides for runs without spec.json) that can split groups. */
function fieldsOf(run: RunData): Record<string, unknown> {
  const all = run.settings ?? run.overrides;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(all).sort()) {
    const owner = optionOwner(k);
    if (!isSeedKey(k) && !isMethodKey(k) && (owner === null || owner === run.method)) out[k] = all[k];
  }
  return out;
}

export interface GroupDraft {
  key: string;
  method: string;
  /** The fields, among those that differ between the report's runs, with this group's values. */
  fields: Record<string, unknown>;
  label: string;
  runs: RunData[];
}

function fmtValue(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** "bilevel (innerSteps=5)": short field names unless two would then read alike. */
function labelOf(method: string, fields: Record<string, unknown>): string {
  const keys = Object.keys(fields);
  const short = (k: string) => k.split(".").at(-1)!;
  const unique = new Set(keys.map(short)).size === keys.length;
  const suffix = keys.map((k) => `${unique ? short(k) : k}=${fmtValue(fields[k])}`).join(", ");
  return suffix ? `${method} (${suffix})` : method;
}

/** Runs grouped by method and every setting that differs between them (seed and names aside). */
export function groupRuns(runs: RunData[]): GroupDraft[] {
  const fields = runs.map(fieldsOf);
  const keys = [...new Set(fields.flatMap((f) => Object.keys(f)))].sort();
  // A field differs when the runs it applies to (a method's option: that method's runs) do not
  // all agree on it; absent (the zero value) is one of the values.
  const differing = keys.filter((k) => {
    const owner = optionOwner(k);
    const values = new Set(
      runs.flatMap((r, i) => (owner === null || owner === r.method ? [JSON.stringify(fields[i]![k] ?? null)] : [])),
    );
    return values.size > 1;
  });
  const byKey = new Map<string, GroupDraft>();
  runs.forEach((run, i) => {
    const own: Record<string, unknown> = {};
    for (const k of differing) if (fields[i]![k] !== undefined) own[k] = fields[i]![k];
    const key = JSON.stringify([run.method, own]);
    const g = byKey.get(key) ?? { key, method: run.method, fields: own, label: labelOf(run.method, own), runs: [] };
    g.runs.push(run);
    byKey.set(key, g);
  });
  return [...byKey.values()];
}

export interface DuplicateSeed {
  seed: number;
  /** Every run of the group with this seed. */
  runIds: string[];
  /** The one counted: evaluated before not, finished before not, then the first id. */
  kept: string;
}

/**
 * One run per seed: two runs of one seed in one group are the same experiment twice
 * (pseudo-replication), and counting both would shrink the interval without new evidence.
 */
export function distinctSeeds(runs: RunData[]): { kept: RunData[]; duplicates: DuplicateSeed[] } {
  const bySeed = new Map<number, RunData[]>();
  const kept: RunData[] = [];
  for (const r of runs) {
    if (r.seed === null) kept.push(r);
    else bySeed.set(r.seed, [...(bySeed.get(r.seed) ?? []), r]);
  }
  const duplicates: DuplicateSeed[] = [];
  const score = (r: RunData) => (r.eval?.layers.length ? 2 : 0) + (r.state === "finished" ? 1 : 0);
  for (const [seed, rs] of [...bySeed.entries()].sort((a, b) => a[0] - b[0])) {
    const sorted = [...rs].sort((a, b) => score(b) - score(a) || a.runId.localeCompare(b.runId));
    kept.push(sorted[0]!);
    if (rs.length > 1) duplicates.push({ seed, runIds: rs.map((r) => r.runId).sort(), kept: sorted[0]!.runId });
  }
  return { kept, duplicates };
}
