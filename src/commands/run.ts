import type { Command } from "commander";
import { join, relative } from "node:path";
import { checkLocalDataRoot, checkRunId, checkRuntimeFits, resumeRun, runExperiment, timestampId } from "../api/run.js";
import { errorJson, EXIT, printJson, reportError, selfCommand } from "../cli/output.js";
import { RunProgress } from "../cli/progress.js";
import { handleInterrupts } from "../cli/signals.js";
import { ExperimentError, loadExperiment } from "../experiment/index.js";
import type { RunSummary } from "../runs/types.js";
import { mlflowUriOf } from "../tracking/settings.js";
import { addRuntimeFlags, runtimeFromFlags, type RuntimeFlags } from "./runtimeFlags.js";

interface RunFlags extends RuntimeFlags {
  json?: boolean;
  runs?: string;
  runId?: string;
  epochs?: string;
  mlflow?: string;
}

const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(1)}%`);

/** What training added to the kNN monitor, in points: the quickstart's "did it learn". */
function gain(s: RunSummary): string {
  if (s.knnTop1 === null || s.initialKnnTop1 === null) return "";
  const d = 100 * (s.knnTop1 - s.initialKnnTop1);
  return `; ${d >= 0 ? "+" : ""}${d.toFixed(1)} points from training`;
}

export function summaryText(s: RunSummary): string {
  const rows = [
    ["run", s.runId],
    ["state", s.state + (s.error ? ` (${s.error})` : "")],
    ["method", s.method],
    ["dataset", s.dataset],
    ["backbone", s.backbone],
    ["epochs / steps", `${s.epochs} / ${s.steps}`],
    ["final loss", s.finalLoss === null ? "-" : s.finalLoss.toFixed(4)],
    ["kNN top-1", `${pct(s.knnTop1)} (random init: ${pct(s.initialKnnTop1)}${gain(s)})`],
    ["wall time", `${s.wallSeconds.toFixed(1)} s`],
    ["run dir", relative(process.cwd(), s.runDir) || "."],
  ];
  return rows.map(([k, v]) => `  ${k!.padEnd(15)} ${v}`).join("\n") + "\n";
}

/** `projhead resume <dir>` as the user can type it from here (`npx projhead` via npx). */
function resumeCommand(runDir: string): string {
  return `${selfCommand()} resume ${relative(process.cwd(), runDir) || runDir}`;
}

/** --epochs: an integer in the schema's range, or a usage error naming train.epochs. */
function epochsFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isInteger(n) || n < 1 || n > 100000) {
    throw new ExperimentError({ kind: "invalid", source: "--epochs", issues: [{ path: "train.epochs", value: v, expected: "an integer in [1, 100000]" }] });
  }
  return n;
}

/** Shared by run and resume: progress, Ctrl-C, result printing and exit codes. */
async function drive(label: string, json: boolean, runDir: string, remote: boolean, go: (h: { onEvent: RunProgress["onEvent"]; cancel: AbortSignal; kill: AbortSignal }) => Promise<RunSummary>): Promise<void> {
  const progress = new RunProgress(label);
  const interrupts = handleInterrupts(
    () => progress.note("cancelling: the worker writes a checkpoint first (Ctrl-C again to stop at once)"),
    (line) => progress.note(line),
  );
  if (!json) progress.starting(remote ? "connecting to the worker…" : "starting worker…");
  try {
    const s = await go({ onEvent: (ev) => progress.onEvent(ev), cancel: interrupts.cancel, kill: interrupts.kill });
    progress.stop();
    if (json) printJson({ ...s, finalLoss: s.finalLoss, knnTop1: s.knnTop1 });
    else process.stdout.write(summaryText(s));
    if (s.state === "cancelled" || interrupts.cancel.aborted) {
      process.stderr.write(`cancelled; continue with: ${resumeCommand(s.runDir)}\n`);
      process.exitCode = EXIT.interrupted;
    } else if (s.state === "interrupted") {
      process.stderr.write(`projhead: run ${s.runId} ${s.error ?? "interrupted"}; continue with: ${resumeCommand(s.runDir)}\n`);
      process.exitCode = EXIT.interrupted;
    } else if (s.state === "finished") {
      process.exitCode = EXIT.ok;
    } else {
      const ckpt = s.lastCheckpoint ? `; last good checkpoint ${s.lastCheckpoint}` : "";
      process.stderr.write(`projhead: run ${s.runId} ${s.state}: ${s.error ?? "no reason given"}${ckpt}\n`);
      process.exitCode = EXIT.failure;
    }
  } catch (err) {
    progress.stop();
    if (interrupts.cancel.aborted || interrupts.kill.aborted) {
      // Stopped by the user: the run keeps its last checkpoint and can go on from there.
      if (json) printJson(errorJson(err));
      process.stderr.write(`stopped; continue with: ${resumeCommand(runDir)}\n`);
      process.exitCode = EXIT.interrupted;
    } else {
      process.exitCode = reportError(err, json);
    }
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
      .option("--epochs <n>", "override train.epochs")
      .option("--mlflow <uri>", "log the run to this MLflow tracking server (overrides tracking.mlflow.uri and MLFLOW_TRACKING_URI)"),
  ).action(async (file: string, o: RunFlags) => {
    let exp;
    let runId: string;
    try {
      exp = await loadExperiment(file);
      const epochs = epochsFlag(o.epochs);
      if (epochs) exp.train.epochs = epochs;
      runId = o.runId ?? timestampId(exp.name);
      checkRunId(runId);
      const choice = { runtime: runtimeFromFlags(o, exp.runtime) };
      checkRuntimeFits(exp, choice);
      checkLocalDataRoot(exp, choice);
      mlflowUriOf(exp, { mlflow: o.mlflow }); // a bad URL is a usage error before anything starts
    } catch (err) {
      process.exitCode = reportError(err, Boolean(o.json));
      return;
    }
    const runtime = runtimeFromFlags(o, exp.runtime);
    await drive(exp.name, Boolean(o.json), join(o.runs ?? "runs", runId), runtime.kind === "remote", (h) =>
      runExperiment(exp, { runsRoot: o.runs, runId, runtime, mlflow: o.mlflow, onEvent: h.onEvent, signal: h.cancel, killSignal: h.kill }),
    );
  });

  addRuntimeFlags(
    program
      .command("resume <runDir>")
      .description("continue a cancelled, interrupted or failed run from its last checkpoint")
      .option("--json", "print a JSON summary as the last stdout line")
      .option("--epochs <n>", "train up to this many epochs in total (may grow)"),
  ).action(async (runDir: string, o: RunFlags) => {
    let epochs: number | undefined;
    try {
      epochs = epochsFlag(o.epochs);
    } catch (err) {
      process.exitCode = reportError(err, Boolean(o.json));
      return;
    }
    const runtime = runtimeFromFlags(o);
    await drive(runDir, Boolean(o.json), runDir, runtime.kind === "remote", (h) =>
      resumeRun(runDir, { runtime, epochs, onEvent: h.onEvent, signal: h.cancel, killSignal: h.kill }),
    );
  });
}
