// Output conventions of every command: human text on stderr/stdout, or with --json exactly one
// JSON document as the last stdout line; errors name what went wrong and set the exit code.
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { ExperimentError } from "../experiment/index.js";
import { SlurmConfigError } from "../workers/slurm.js";
import { WorkerStartError } from "../workers/types.js";
import { WorkerError } from "../client/errors.js";

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/**
 * How the user can run projhead again from here, for printed hints: `npx projhead` when this
 * process was started by npx (npm sets npm_command=exec) or projhead is not on PATH.
 */
export function selfCommand(env: NodeJS.ProcessEnv = process.env): string {
  if (env.npm_command === "exec") return "npx projhead";
  const onPath = (env.PATH ?? "").split(delimiter).some((d) => d && existsSync(join(d, process.platform === "win32" ? "projhead.cmd" : "projhead")));
  return onPath ? "projhead" : "npx projhead";
}

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
