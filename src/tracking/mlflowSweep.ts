// A sweep in MLflow: one parent run named after the sweep (its id kept in
// sweeps/<name>/mlflow.json), under which every run of the sweep is nested (mlflow.parentRunId),
// and which gets the sweep's report.html when the report is built.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeJsonAtomic } from "../fsutil/atomic.js";
import { MlflowRest } from "./mlflowRest.js";

interface SweepState {
  uri: string;
  experimentId: string;
  runId: string;
  artifactUri: string;
}

const statePath = (dir: string) => join(dir, "mlflow.json");
// Runs of one sweep ask at once: one creation per sweep folder in this process.
const creating = new Map<string, Promise<string>>();

function readState(dir: string, uri: string): SweepState | null {
  if (!existsSync(statePath(dir))) return null;
  const s = JSON.parse(readFileSync(statePath(dir), "utf8")) as SweepState;
  return s.uri === uri ? s : null;
}

/** The sweep's parent run, created on first use (and again when the server lost it). */
export async function sweepParentRunId(rest: MlflowRest, experimentId: string, sweep: { name: string; dir: string }): Promise<string> {
  const pending = creating.get(sweep.dir);
  if (pending) return pending;
  const p = (async () => {
    const s = readState(sweep.dir, rest.base);
    if (s && s.experimentId === experimentId && (await rest.getRun(s.runId))) return s.runId;
    const run = await rest.createRun(experimentId, sweep.name, Date.now(), [{ key: "sweep", value: sweep.name }, { key: "projhead.kind", value: "sweep" }]);
    writeJsonAtomic(statePath(sweep.dir), { uri: rest.base, experimentId, runId: run.runId, artifactUri: run.artifactUri } satisfies SweepState);
    return run.runId;
  })();
  creating.set(sweep.dir, p);
  try {
    return await p;
  } finally {
    creating.delete(sweep.dir);
  }
}

/** The sweep's end: its report.html as an artifact of the parent run, which is marked finished. */
export async function finishSweepParent(sweepDir: string, reportHtml: string | null, failed: boolean): Promise<void> {
  if (!existsSync(statePath(sweepDir))) return;
  const s = JSON.parse(readFileSync(statePath(sweepDir), "utf8")) as SweepState;
  const rest = new MlflowRest(s.uri);
  if (reportHtml && existsSync(reportHtml)) await rest.uploadArtifact(s.artifactUri, "report.html", readFileSync(reportHtml), "text/html");
  await rest.updateRun(s.runId, failed ? "FAILED" : "FINISHED", Date.now());
}
