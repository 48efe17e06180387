import type { Command } from "commander";
import { join } from "node:path";
import { loadExperiment } from "../experiment/index.js";
import { reportError } from "../cli/output.js";
import { projectRoot } from "../workers/paths.js";
import { sweepAndReport } from "./sweep.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("the project in a few minutes on CPU: joint vs bi-level head training on real Fashion-MNIST images shipped with the worker, per-layer table and HTML report")
    .option("--json", "print the result as JSON")
    .option("--runs <dir>", "directory of run directories", "runs")
    .option("--sweeps <dir>", "directory of sweep records", "sweeps")
    .action(async (o: { json?: boolean; runs: string; sweeps: string }) => {
      const file = join(projectRoot(), "examples", "demo.yaml");
      try {
        const exp = await loadExperiment(file);
        if (!o.json) process.stderr.write(`projhead demo: ${file}\n`);
        await sweepAndReport(exp, file, { json: o.json, runs: o.runs, sweeps: o.sweeps });
      } catch (err) {
        process.exitCode = reportError(err, Boolean(o.json));
      }
    });
}
