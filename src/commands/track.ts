// `projhead track <runDir...>`: brings a run's tracking up to date from its folder: the
// TensorBoard event file rebuilt from events.jsonl, and what its MLflow server missed (an
// outage that outlasted the run) sent, from the cursor in mlflow.json on.
import type { Command } from "commander";
import { EXIT } from "../cli/output.js";
import { RunDir } from "../runs/store.js";
import { RunTracking } from "../tracking/index.js";

export function registerTrack(program: Command): void {
  program
    .command("track <runDirs...>")
    .description("send what a run's MLflow server missed and rebuild its TensorBoard files, from the run folder")
    .action(async (dirs: string[]) => {
      for (const dir of dirs) {
        const runDir = new RunDir(dir);
        if (!runDir.exists()) {
          process.stderr.write(`projhead: <runDirs>: ${dir} is not a run folder (no spec.json)\n`);
          process.exitCode = EXIT.usage;
          return;
        }
        const record = runDir.readSpec().tracking ?? { tensorboard: true, hparams: {} };
        const tracking = new RunTracking(runDir, record);
        tracking.attach();
        if (await tracking.finish()) process.stderr.write(`${runDir.runId}: tracking up to date${record.mlflow ? ` (MLflow ${record.mlflow.uri})` : ""}\n`);
        else process.exitCode = EXIT.failure;
      }
    });
}
