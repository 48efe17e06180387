import type { Command } from "commander";
import { exportBackbone } from "../api/export.js";
import { printJson, reportError } from "../cli/output.js";
import { RunDir } from "../runs/store.js";
import { specFromJson } from "../client/spec.js";
import { addRuntimeFlags, runtimeFromFlags, type RuntimeFlags } from "./runtimeFlags.js";

/** What loads an exported backbone, in words (README "Exported backbones" has the code). */
export function loadHint(architecture: string, model?: { cifarStem: boolean; width: number }): string {
  const py = (b: boolean | undefined) => (b ? "True" : "False");
  if (architecture.startsWith("resnet")) {
    return `loads into torchvision.models.${architecture}() with fc = Identity${model?.cifarStem ? " and the 3x3 CIFAR stem" : ""} (README: Exported backbones)`;
  }
  if (architecture === "convnet") {
    return `projhead's convnet, not a torchvision model: load it into projhead_worker.training.models.build_backbone("convnet", cifar_stem=${py(model?.cifarStem)}, width=${model?.width ?? "<width>"})[0] (README: Exported backbones)`;
  }
  return `architecture ${architecture}`;
}

export function registerExport(program: Command): void {
  addRuntimeFlags(
    program
      .command("export <runDir>")
      .description("write the run's backbone (projection head discarded) as safetensors: torchvision's parameter names for resnets; a convnet loads into projhead_worker's own module")
      .requiredOption("--out <file>", "output .safetensors file (required)")
      .option("--checkpoint <path>", "checkpoint relative to the run directory (default: newest)")
      .option("--json", "print the result as JSON"),
  ).action(async (runDir: string, o: RuntimeFlags & { out: string; checkpoint?: string; json?: boolean }) => {
    try {
      const r = await exportBackbone(runDir, o.out, { runtime: runtimeFromFlags(o), checkpoint: o.checkpoint });
      const model = specFromJson(new RunDir(runDir).readSpec().spec).model;
      const hint = loadHint(r.architecture, model);
      if (o.json) printJson({ ...r, loads: hint });
      else process.stdout.write(`wrote ${r.path} (${r.architecture}, ${(r.bytes / 2 ** 20).toFixed(1)} MiB): ${hint}\n`);
    } catch (err) {
      process.exitCode = reportError(err, Boolean(o.json));
    }
  });
}
