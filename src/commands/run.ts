import type { Command } from "commander";
import { relative } from "node:path";
import { resumeRun, runExperiment } from "../api/run.js";
import { EXIT, printJson, reportError } from "../cli/output.js";
import { RunProgress } from "../cli/progress.js";
import { handleInterrupts } from "../cli/signals.js";
import { loadExperiment } from "../experiment/index.js";
import type { RunSummary } from "../runs/types.js";
import { addRuntimeFlags, runtimeFromFlags, type RuntimeFlags } from "./runtimeFlags.js";

interface RunFlags extends RuntimeFlags {
  json?: boolean;
  runs?: string;
  runId?: string;
  epochs?: string;
}

const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(1)}%`);

export function summaryText(s: RunSummary): string {
  const rows = [
    ["run", s.runId],
    ["state", s.state + (s.error ? ` (${s.error})` : "")],
    ["method", s.method],
    ["dataset", s.dataset],
    ["backbone", s.backbone],
    ["epochs / steps", `${s.epochs} / ${s.steps}`],
    ["final loss", s.finalLoss === null ? "-" : s.finalLoss.toFixed(4)],
    ["kNN top-1", pct(s.knnTop1)],
    ["wall time", `${s.wallSeconds.toFixed(1)} s`],
    ["run dir", relative(process.cwd(), s.runDir) || "."],
  ];
  return rows.map(([k, v]) => `  ${k!.padEnd(15)} ${v}`).join("\n") + "\n";
}

/** Shared by run and resume: progress, Ctrl-C, result printing and exit codes. */
async function drive(label: string, json: boolean, go: (h: { onEvent: RunProgress["onEvent"]; cancel: AbortSignal; kill: AbortSignal }) => Promise<RunSummary>): Promise<void> {
  const progress = new RunProgress(label);
  const interrupts = handleInterrupts(() => process.stderr.write("\ncancelling: the worker writes a checkpoint first (Ctrl-C again to stop at once)\n"));
  try {
    const s = await go({ onEvent: (ev) => progress.onEvent(ev), cancel: interrupts.cancel, kill: interrupts.kill });
    progress.stop();
    if (json) printJson({ ...s, finalLoss: s.finalLoss, knnTop1: s.knnTop1 });
    else process.stdout.write(summaryText(s));
    if (s.state === "cancelled" || interrupts.cancel.aborted) {
      process.stderr.write(`cancelled; continue with: projhead resume ${relative(process.cwd(), s.runDir) || s.runDir}\n`);
      process.exitCode = EXIT.interrupted;
    } else {
      process.exitCode = s.state === "finished" ? EXIT.ok : EXIT.failure;
    }
  } catch (err) {
    progress.stop();
    process.exitCode = interrupts.kill.aborted ? EXIT.interrupted : reportError(err, json);
  } finally {
    interrupts.dispose();
  }
}

export function registerRun(program: Command): void {
  addRuntimeFlags(
    program
      .command("run <experiment>")
      .description("train one run of an experiment file (.yaml, .json or .ts) and write runs/<id>/")
      .option("--json", "print a JSON summary as the last stdout line")
      .option("--runs <dir>", "directory of run directories", "runs")
      .option("--run-id <id>", "run id (default <name>-<timestamp>)")
      .option("--epochs <n>", "override train.epochs"),
  ).action(async (file: string, o: RunFlags) => {
    let exp;
    try {
      exp = await loadExperiment(file);
      if (o.epochs) exp.train.epochs = Number(o.epochs);
    } catch (err) {
      process.exitCode = reportError(err, Boolean(o.json));
      return;
    }
    await drive(exp.name, Boolean(o.json), (h) =>
      runExperiment(exp, { runsRoot: o.runs, runId: o.runId, runtime: runtimeFromFlags(o, exp.runtime), onEvent: h.onEvent, cancelSignal: h.cancel, killSignal: h.kill }),
    );
  });

  addRuntimeFlags(
    program
      .command("resume <runDir>")
      .description("continue a cancelled, interrupted or failed run from its last checkpoint")
      .option("--json", "print a JSON summary as the last stdout line")
      .option("--epochs <n>", "train up to this many epochs in total (may grow)"),
  ).action(async (runDir: string, o: RunFlags) => {
    await drive(runDir, Boolean(o.json), (h) =>
      resumeRun(runDir, { runtime: runtimeFromFlags(o), epochs: o.epochs ? Number(o.epochs) : undefined, onEvent: h.onEvent, cancelSignal: h.cancel, killSignal: h.kill }),
    );
  });
}
