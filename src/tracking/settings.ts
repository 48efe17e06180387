// Which tracking a run gets, decided before any worker starts: TensorBoard from
// train.tensorboard; MLflow from --mlflow, else tracking.mlflow.uri, else MLFLOW_TRACKING_URI
// (the variable MLflow's own clients read). A value that cannot be an MLflow server, or an
// experiment name the server refuses, is a usage error naming where it came from.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ExperimentError } from "../experiment/errors.js";
import type { ResolvedExperiment } from "../experiment/index.js";
import { isMlflowUri, MLFLOW_URI_EXPECTED } from "../experiment/schema.js";
import { projectRoot } from "../workers/paths.js";
import { VERSION } from "../version.js";
import { runHParams, type TrackingRecord } from "./index.js";
import { MlflowError, MlflowRest } from "./mlflowRest.js";

export interface TrackingChoice {
  /** --mlflow URI: overrides the experiment's tracking.mlflow.uri and MLFLOW_TRACKING_URI. */
  mlflow?: string;
  env?: NodeJS.ProcessEnv;
}

/** The MLflow server URI in force and where it came from (for messages), or null. */
export function mlflowUriOf(exp: ResolvedExperiment, choice: TrackingChoice = {}): { uri: string; field: string } | null {
  const env = choice.env ?? process.env;
  const found = choice.mlflow !== undefined ? { uri: choice.mlflow, field: "--mlflow" }
    : exp.tracking?.mlflow?.uri !== undefined ? { uri: exp.tracking.mlflow.uri, field: "tracking.mlflow.uri" }
      : env.MLFLOW_TRACKING_URI ? { uri: env.MLFLOW_TRACKING_URI, field: "MLFLOW_TRACKING_URI" } : null;
  if (!found) return null;
  if (!isMlflowUri(found.uri)) {
    throw new ExperimentError({ kind: "invalid", source: found.field === "tracking.mlflow.uri" ? "experiment" : found.field, issues: [{ path: found.field, value: found.uri, expected: MLFLOW_URI_EXPECTED }] });
  }
  return found;
}

let revision: string | undefined;
/** The code that ran the run: the checkout's git commit, else the package version. */
export function codeRevision(): string {
  if (revision === undefined) {
    revision = `projhead ${VERSION}`;
    if (existsSync(join(projectRoot(), ".git"))) {
      try {
        revision = execFileSync("git", ["-C", projectRoot(), "rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || revision;
      } catch {
        // not a usable git checkout: the version says enough
      }
    }
  }
  return revision;
}

/** What one run of `exp` is tracked with (a sweep's run: its name, folder and grid values). */
export function trackingFor(exp: ResolvedExperiment, choice: TrackingChoice = {}, sweep?: { name: string; dir: string; overrides: Record<string, unknown> }): TrackingRecord {
  const record: TrackingRecord = { tensorboard: exp.train.tensorboard, hparams: runHParams(exp, sweep?.overrides) };
  const mlflow = mlflowUriOf(exp, choice);
  if (mlflow) {
    const experiment = exp.tracking?.mlflow?.experiment ?? sweep?.name ?? exp.name;
    const rev = codeRevision();
    record.mlflow = {
      uri: mlflow.uri,
      experiment,
      tags: {
        method: exp.method.name, seed: String(exp.seed), dataset: exp.data.name, backbone: exp.model.backbone,
        ...(sweep ? { sweep: sweep.name } : {}),
        "code.revision": rev,
        ...(/^[0-9a-f]{40}$/.test(rev) ? { "mlflow.source.git.commit": rev } : {}),
        "projhead.version": VERSION,
      },
      ...(sweep ? { sweep: { name: sweep.name, dir: sweep.dir } } : {}),
    };
  }
  return record;
}

/**
 * Before any worker starts: the MLflow experiment exists or is created. A server that refuses
 * the name is a usage error naming tracking.mlflow.experiment; one that does not answer (within
 * a few seconds) is not an error: the run goes on and its logger retries.
 */
export async function checkMlflow(record: TrackingRecord, exp: ResolvedExperiment): Promise<void> {
  if (!record.mlflow) return;
  try {
    await new MlflowRest(record.mlflow.uri, 5_000).experimentId(record.mlflow.experiment);
  } catch (err) {
    if (err instanceof MlflowError && err.refused) {
      const field = exp.tracking?.mlflow?.experiment !== undefined ? "tracking.mlflow.experiment" : "name";
      throw new ExperimentError({
        kind: "invalid", source: "experiment",
        issues: [{ path: field, value: record.mlflow.experiment, expected: `an experiment name the MLflow server at ${record.mlflow.uri} accepts (it said: ${err.message})` }],
      });
    }
  }
}
