import type { Command } from "commander";
import { exportBackbone } from "../api/export.js";
import { printJson, reportError } from "../cli/output.js";
import { addRuntimeFlags, runtimeFromFlags, type RuntimeFlags } from "./runtimeFlags.js";

export function registerExport(program: Command): void {
  addRuntimeFlags(
    program
      .command("export <runDir>")
      .description("write the run's backbone (projection head discarded) as safetensors, loadable into torchvision")
      .requiredOption("--out <file>", "output .safetensors file")
      .option("--checkpoint <path>", "checkpoint relative to the run directory (default: newest)")
      .option("--json", "print the result as JSON"),
  ).action(async (runDir: string, o: RuntimeFlags & { out: string; checkpoint?: string; json?: boolean }) => {
    try {
      const r = await exportBackbone(runDir, o.out, { runtime: runtimeFromFlags(o), checkpoint: o.checkpoint });
      if (o.json) printJson(r);
      else process.stdout.write(`wrote ${r.path} (${r.architecture}, ${(r.bytes / 2 ** 20).toFixed(1)} MiB)\n`);
    } catch (err) {
      process.exitCode = reportError(err, Boolean(o.json));
    }
  });
}
