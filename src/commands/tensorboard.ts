// `projhead tensorboard <runs|run|sweep>`: TensorBoard from the worker's Python environment on
// what projhead wrote (src/tracking). A sweep folder is shown as it is (its links to the runs'
// tb folders and the HParams experiment), a run folder as its tb folder, anything else (a runs
// folder) as the log folder itself.
import type { Command } from "commander";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { EXIT } from "../cli/output.js";
import { setupCommand, venvPython } from "../workers/paths.js";
import { TB_DIR } from "../tracking/tensorboard.js";

/** The folder to give TensorBoard for what the user named. */
export function tensorboardLogdir(path: string): string {
  const p = resolve(path);
  if (existsSync(join(p, "spec.json")) && existsSync(join(p, TB_DIR))) return join(p, TB_DIR);
  return p;
}

export function registerTensorboard(program: Command): void {
  program
    .command("tensorboard <path>")
    .description("start TensorBoard on a runs folder, a run folder or a sweep folder (sweeps/<name>: the HParams table of its runs)")
    .option("--port <n>", "port to serve on", "6006")
    .option("--host <addr>", "address to serve on", "127.0.0.1")
    .action((path: string, o: { port: string; host: string }) => {
      if (!existsSync(path) || !statSync(path).isDirectory()) {
        process.stderr.write(`projhead: <path>: ${path} is not a folder (expected runs/, runs/<id> or sweeps/<name>)\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      if (!/^\d{1,5}$/.test(o.port) || Number(o.port) > 65535) {
        process.stderr.write(`projhead: --port: ${JSON.stringify(o.port)} is not a port number (0-65535)\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const python = venvPython();
      const probe = spawnSync(python, ["-c", "import tensorboard"], { stdio: "ignore" });
      if (probe.status !== 0) {
        const install = setupCommand() === "npm run setup" ? "npm run setup (it installs the lockfile's tensorboard group)" : "npx projhead setup --tensorboard";
        process.stderr.write(`projhead: TensorBoard is not installed in the worker's environment (${python}): ${install}; or, with any TensorBoard: tensorboard --logdir ${tensorboardLogdir(path)}\n`);
        process.exitCode = EXIT.failure;
        return;
      }
      const logdir = tensorboardLogdir(path);
      process.stderr.write(`projhead: TensorBoard on ${logdir}: http://${o.host}:${o.port}/\n`);
      // --load_fast=false: the Python loader, the one test/e2e/tracking-tensorboard.test.ts checks
      // this command with (TensorBoard's Rust loader reads these files and links as well)
      const child = spawn(python, ["-m", "tensorboard.main", "--logdir", logdir, "--host", o.host, "--port", o.port, "--load_fast=false"], { stdio: "inherit" });
      const forward = (sig: NodeJS.Signals) => child.kill(sig);
      process.on("SIGINT", forward);
      process.on("SIGTERM", forward);
      child.on("exit", (code, signal) => {
        process.exitCode = signal ? EXIT.ok : code ?? EXIT.failure;
      });
    });
}
