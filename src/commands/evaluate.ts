import type { Command } from "commander";
import { evaluateRun } from "../api/evaluate.js";
import { printJson, reportError } from "../cli/output.js";
import type { LayerEvalRecord } from "../runs/types.js";
import { addRuntimeFlags, runtimeFromFlags, type RuntimeFlags } from "./runtimeFlags.js";

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function layerTable(layers: LayerEvalRecord[]): string {
  const head = ["layer", "dim", "linear", "kNN", "eff. rank", "align", "uniform"];
  const rows = layers.map((l) => [l.layer, String(l.dim), pct(l.linearTop1), pct(l.knnTop1), l.effectiveRank.toFixed(1), l.alignment.toFixed(3), l.uniformity.toFixed(3)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => "  " + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [fmt(head), fmt(widths.map((w) => "-".repeat(w))), ...rows.map(fmt)].join("\n") + "\n";
}

export function registerEval(program: Command): void {
  addRuntimeFlags(
    program
      .command("eval <runDir>")
      .description("evaluate every layer (h, each head block, z) of a run's checkpoint: linear probe, kNN, spectrum, alignment/uniformity")
      .option("--json", "print the evaluation as JSON")
      .option("--checkpoint <path>", "checkpoint relative to the run directory (default: newest)")
      .option("--layers <list>", "comma-separated layers (default: all)")
      .option("--probe-max-iter <n>", "cap on the linear probe's L-BFGS iterations (default: the run's eval.probeMaxIter; it stops once converged)")
      .option("--knn-k <n>", "kNN neighbours (default: the run's eval.knnK)")
      .option("--device <device>", "auto, cpu, cuda"),
  ).action(async (runDir: string, o: RuntimeFlags & { json?: boolean; checkpoint?: string; layers?: string; probeMaxIter?: string; knnK?: string; device?: string }) => {
    try {
      const rec = await evaluateRun(runDir, {
        runtime: runtimeFromFlags(o),
        checkpoint: o.checkpoint,
        layers: o.layers ? o.layers.split(",").map((s) => s.trim()) : undefined,
        eval: o.probeMaxIter || o.knnK ? { probeMaxIter: Number(o.probeMaxIter ?? 0), knnK: Number(o.knnK ?? 0) } : undefined,
        device: o.device,
        onLog: o.json ? undefined : (m) => process.stderr.write(`  ${m}\n`),
        onLayer: o.json ? undefined : (l) => process.stderr.write(`  ${l.layer}: linear ${pct(l.linearTop1)}, kNN ${pct(l.knnTop1)}\n`),
      });
      if (o.json) printJson(rec);
      else process.stdout.write(layerTable(rec.layers) + `  written to ${runDir}/eval.json\n`);
    } catch (err) {
      process.exitCode = reportError(err, Boolean(o.json));
    }
  });
}
