import type { Command } from "commander";
import { runSweep, sweepWorkerCount, type SweepResult } from "../api/sweep.js";
import { EXIT, printJson, reportError } from "../cli/output.js";
import { jobStateLine, RunProgress } from "../cli/progress.js";
import { handleInterrupts } from "../cli/signals.js";
import { expandSweep, loadExperiment, type ResolvedExperiment } from "../experiment/index.js";
import { buildReport } from "../report/index.js";
import { finishSweepParent } from "../tracking/mlflowSweep.js";
import { addRuntimeFlags, runtimeFromFlags, tlsFromFlags, type RuntimeFlags } from "./runtimeFlags.js";

export interface SweepFlags extends RuntimeFlags {
  json?: boolean;
  runs?: string;
  sweeps?: string;
  parallel?: string;
  workers?: string;
  mlflow?: string;
}

/** Runs a sweep with progress and Ctrl-C handling, then the report; shared with `demo`. */
export async function sweepAndReport(exp: ResolvedExperiment, file: string, o: SweepFlags): Promise<void> {
  const json = Boolean(o.json);
  const interrupts = handleInterrupts(() => process.stderr.write("\ncancelling the sweep: the current runs checkpoint first (Ctrl-C again to stop at once)\n"));
  const progress = new Map<string, RunProgress>();
  let result: SweepResult;
  try {
    const runtime = o.workers
      ? { kind: "remote" as const, workers: o.workers.split(",").map((s) => s.trim()).filter(Boolean), tokenEnv: o.tokenEnv, tls: tlsFromFlags(o) }
      : runtimeFromFlags(o, exp.runtime);
    // Runs that may train at the same time, and so share the screen.
    const atOnce = sweepWorkerCount(exp, runtime, expandSweep(exp).length, o.parallel ? Number(o.parallel) : undefined);
    result = await runSweep(exp, {
      experimentFile: file, runsRoot: o.runs, sweepsRoot: o.sweeps, runtime,
      parallel: o.parallel ? Number(o.parallel) : undefined, mlflow: o.mlflow,
      signal: interrupts.cancel, killSignal: interrupts.kill,
      onSkip: (run) => json || process.stderr.write(`${run.runId}: already finished, skipped\n`),
      onRunStart: (run, w, resumed) => {
        progress.set(run.runId, new RunProgress(run.runId, { sharedScreen: atOnce > 1 }));
        if (!json && resumed) process.stderr.write(`${run.runId}: resuming on ${w.address}\n`);
      },
      onEvent: (run, ev) => (json ? undefined : progress.get(run.runId)?.onEvent(ev)),
      onJobState: (c) => json || process.stderr.write(jobStateLine(c)),
      onWorkerLost: (w, err) => process.stderr.write(`worker ${w.address} lost (${err.message}); ${w.kind === "slurm" ? "its run resumes from its last checkpoint on the job that takes its place (requeued or new)" : "the sweep goes on with the other workers (an interrupted run resumes from its last checkpoint)"}\n`),
    });
  } catch (err) {
    process.exitCode = interrupts.kill.aborted ? EXIT.interrupted : reportError(err, json);
    interrupts.dispose();
    return;
  }
  interrupts.dispose();
  const report = await buildReport([result.sweepDir]);
  if (json) printJson({ sweepDir: result.sweepDir, htmlPath: report.htmlPath, runs: result.summaries, report: report.json });
  else process.stdout.write("\n" + (report.text.endsWith("\n") ? report.text : report.text + "\n"));
  const failed = result.summaries.filter((s) => s.state !== "finished");
  // The MLflow parent run of the sweep (when it has one) gets the report and its end.
  await finishSweepParent(result.sweepDir, report.htmlPath ?? null, failed.length > 0).catch((err: Error) =>
    process.stderr.write(`projhead: MLflow: the sweep's report.html and end were not recorded: ${err.message}
`));
  if (interrupts.cancel.aborted) process.exitCode = EXIT.interrupted;
  else if (failed.length) {
    process.stderr.write(`${failed.length} run(s) did not finish: ${failed.map((s) => `${s.runId} (${s.state}${s.error ? `: ${s.error}` : ""})`).join(", ")}\n`);
    process.exitCode = EXIT.failure;
  }
}

export function registerSweep(program: Command): void {
  addRuntimeFlags(
    program
      .command("sweep <experiment>")
      .description("run every combination of the experiment's sweep.grid (finished runs are skipped), evaluate and report")
      .option("--json", "print the sweep result as JSON")
      .option("--runs <dir>", "directory of run directories", "runs")
      .option("--sweeps <dir>", "directory of sweep records", "sweeps")
      .option("--parallel <n>", "runs at once (local workers started)")
      .option("--workers <list>", "comma-separated host:port of running workers to spread the runs over")
      .option("--mlflow <uri>", "log the runs to this MLflow tracking server, nested under a run of the sweep (overrides tracking.mlflow.uri and MLFLOW_TRACKING_URI)"),
  ).action(async (file: string, o: SweepFlags) => {
    let exp;
    try {
      exp = await loadExperiment(file);
    } catch (err) {
      process.exitCode = reportError(err, Boolean(o.json));
      return;
    }
    await sweepAndReport(exp, file, o);
  });
}
