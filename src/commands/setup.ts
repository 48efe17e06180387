import type { Command } from "commander";
import { resolve } from "node:path";
import { printJson, reportError } from "../cli/output.js";
import { cachedEnvDir, setupWorkerEnv } from "../setup/pyenv.js";
import { workerDir } from "../workers/paths.js";

export function registerSetup(program: Command): void {
  program
    .command("setup")
    .description("create the worker's Python environment from the shipped lockfile (per-user cache, keyed by the lockfile's hash; idempotent)")
    .option("--dir <path>", "put the environment here instead (then point PROJHEAD_PYTHON or runtime.python at its interpreter)")
    .option("--python <path>", "Python >= 3.10 to build the environment from (default: $UV_PYTHON, python3, python)")
    .option("--no-compile", "do not compile bytecode at install (faster setup, slower first start)")
    .option("--tensorboard", "also install TensorBoard (the lockfile's tensorboard group) for `projhead tensorboard`")
    .option("--json", "print the result as JSON")
    .action((o: { dir?: string; python?: string; compile: boolean; json?: boolean; tensorboard?: boolean }) => {
      try {
        const envDir = o.dir ? resolve(o.dir) : cachedEnvDir(workerDir());
        const r = setupWorkerEnv({ workerDir: workerDir(), envDir, python: o.python, compile: o.compile, groups: o.tensorboard ? ["tensorboard"] : [], say: (m) => process.stderr.write(`[projhead setup] ${m}\n`) });
        const findable = !o.dir || envDir === cachedEnvDir(workerDir());
        if (o.json) printJson({ ...r, default: findable });
        else if (!findable) process.stderr.write(`[projhead setup] to use it: PROJHEAD_PYTHON=${r.python} (or runtime.python in the experiment)\n`);
      } catch (err) {
        process.exitCode = reportError(err, Boolean(o.json));
      }
    });
}
