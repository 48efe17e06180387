// Output conventions of every command: human text on stderr/stdout, or with --json exactly one
// JSON document as the last stdout line; errors name what went wrong and set the exit code.
import { ExperimentError } from "../experiment/index.js";
import { SlurmConfigError } from "../runtime/slurm.js";
import { WorkerStartError } from "../runtime/types.js";
import { WorkerError } from "../worker/errors.js";

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

export function errorJson(err: unknown): Record<string, unknown> {
  if (err instanceof ExperimentError) return { error: err.message, kind: err.kind, issues: err.issues };
  if (err instanceof WorkerError) return { error: err.message, code: err.code };
  if (err instanceof WorkerStartError) return { error: err.message, stderr: err.stderr };
  return { error: err instanceof Error ? err.message : String(err) };
}

/** Reports an error and returns the exit code it deserves. */
export function reportError(err: unknown, json: boolean): number {
  if (json) printJson(errorJson(err));
  else process.stderr.write(`projhead: ${err instanceof Error ? err.message : String(err)}\n`);
  return err instanceof ExperimentError || err instanceof SlurmConfigError ? EXIT.usage : EXIT.failure;
}
