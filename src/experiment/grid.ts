// Checks of sweep.grid: every key is the dotted path of one field of the experiment and every
// value is allowed there, so a typo fails when the file is loaded, not halfway through a sweep.
import { fromZodIssues, hint, type ExperimentIssue } from "./errors.js";
import { isPlainObject } from "./defaults.js";
import { leafPaths, schemaAt } from "./schema.js";

// name makes the run ids, sweep would recurse, report reads the whole sweep and a sweep's runs
// are tracked together: none may vary.
const SWEEPABLE = leafPaths().filter((p) => p !== "name" && !p.startsWith("sweep.") && !p.startsWith("report.") && !p.startsWith("tracking."));

/** How a grid key is shown in messages: sweep.grid["method.name"]. */
export const gridLabel = (key: string) => `sweep.grid[${JSON.stringify(key)}]`;

export function gridIssues(grid: unknown): ExperimentIssue[] {
  if (!isPlainObject(grid)) return [];
  const issues: ExperimentIssue[] = [];
  for (const [key, values] of Object.entries(grid)) {
    const label = gridLabel(key);
    if (!SWEEPABLE.includes(key)) {
      issues.push({
        path: label,
        value: key,
        expected: `the dotted path of one field, such as method.name or optim.lr (not name, sweep.*, report.* or tracking.*)${hint(key, SWEEPABLE)}`,
      });
      continue;
    }
    if (!Array.isArray(values)) continue; // the schema reports it
    const leaf = schemaAt(key.split("."))!;
    const seen = new Set<string>();
    values.forEach((v, i) => {
      const r = leaf.safeParse(v);
      if (!r.success) issues.push(...fromZodIssues(r.error.issues, v, key.split("."), `${label}[${i}]`));
      const id = JSON.stringify(v);
      if (seen.has(id)) issues.push({ path: `${label}[${i}]`, value: v, expected: "values that differ from each other" });
      seen.add(id);
    });
  }
  return issues;
}
