// From what a user wrote to a fully populated, validated experiment.
import { DEFAULT_EXPERIMENT, deepMerge, isPlainObject } from "./defaults.js";
import { ExperimentError, fromZodIssues, type ExperimentIssue } from "./errors.js";
import { gridIssues } from "./grid.js";
import { ExperimentSchema, type ExperimentInput, type ResolvedExperiment } from "./schema.js";

/** Typed identity for experiment files written in TypeScript: `export default defineExperiment({...})`. */
export function defineExperiment(experiment: ExperimentInput): ExperimentInput {
  return experiment;
}

export interface ResolveOptions {
  /** Shown before every issue, e.g. the file name; default "experiment". */
  source?: string;
}

/**
 * Defaults deep-merged with `input`, then validated. Throws an ExperimentError (kind "invalid")
 * listing every problem, unknown fields and sweep grid entries included.
 */
export function resolveExperiment(input: unknown, opts: ResolveOptions = {}): ResolvedExperiment {
  const source = opts.source ?? "experiment";
  if (!isPlainObject(input)) {
    throw new ExperimentError({
      kind: "invalid",
      source,
      issues: [{ path: "", value: input, expected: "an experiment object (at least a name)" }],
    });
  }
  const merged = deepMerge(DEFAULT_EXPERIMENT, input) as Record<string, unknown>;
  const r = ExperimentSchema.safeParse(merged);
  const issues: ExperimentIssue[] = r.success ? [] : fromZodIssues(r.error.issues, merged);
  const sweep = merged["sweep"];
  if (isPlainObject(sweep)) issues.push(...gridIssues(sweep["grid"]));
  if (issues.length > 0 || !r.success) throw new ExperimentError({ kind: "invalid", source, issues });
  return r.data;
}
