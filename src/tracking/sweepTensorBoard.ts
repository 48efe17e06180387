// A sweep's TensorBoard view: sweeps/<name>/ gets the HParams experiment (the grid's fields,
// method and seed, and the final metrics of every layer) and a link to each run's tb folder.
import type { ResolvedExperiment, SweepRun } from "../experiment/index.js";
import { join } from "node:path";
import type { HParamDomain } from "./hparams.js";
import { runHParams, stderrWarn, type Warn } from "./index.js";
import { hparamMetrics, writeSweepTensorBoard } from "./tensorboard.js";

/** The layers a run's evaluation reports: h, head.1 .. head.N-1, z. */
export function layersOf(exp: ResolvedExperiment): string[] {
  return ["h", ...exp.model.head.hiddenDims.map((_, i) => `head.${i + 1}`), "z"];
}

export function sweepTensorBoard(exp: ResolvedExperiment, runs: SweepRun[], runsRoot: string, sweepDir: string, warn: Warn = stderrWarn): void {
  const shown = runs.filter((r) => r.experiment.train.tensorboard);
  if (!shown.length) return;
  const domains = new Map<string, HParamDomain>();
  for (const r of shown) {
    for (const [name, v] of Object.entries(runHParams(r.experiment, r.overrides))) {
      const d = domains.get(name) ?? { name, values: [] };
      if (!d.values.includes(v)) d.values.push(v);
      domains.set(name, d);
    }
  }
  const layers = [...new Set(shown.flatMap((r) => layersOf(r.experiment)))];
  try {
    const problems = writeSweepTensorBoard(sweepDir, exp.name, shown.map((r) => ({ runId: r.runId, runDir: join(runsRoot, r.runId) })), [...domains.values()], hparamMetrics(layers));
    for (const p of problems) warn(`TensorBoard view of sweep ${exp.name}: ${p}`);
  } catch (err) {
    warn(`TensorBoard view of sweep ${exp.name} could not be written (${(err as Error).message}); the runs' own tb folders are unaffected`);
  }
}
