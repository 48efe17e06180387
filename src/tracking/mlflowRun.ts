// One projhead run as an MLflow run, logged over the REST API from the events the orchestrator
// stores. What was sent is kept as a cursor (runs/<id>/mlflow.json: the last seq sent), not as
// a buffer: whatever the server missed is read again from events.jsonl, so an outage of any
// length costs memory for nothing and loses nothing, and a retry never sends a value twice.
//
// Events are sent up to the run's latest checkpoint (and all of them when it ends): a resume
// replays the events after its checkpoint, and MLflow cannot take back a logged value, so what
// is sent is only ever what no resume will replay. MLflow thus trails a live run by at most one
// checkpoint interval.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { RunDir } from "../runs/store.js";
import type { EventRecord, MlflowTarget, RunSummary } from "../runs/types.js";
import { writeJsonAtomic } from "../fsutil/atomic.js";
import { fromRunSpec } from "../client/spec.js";
import type { RunSpec } from "../client/types.js";
import { BATCH_LIMITS, MlflowError, MlflowRest, PARAM_VALUE_MAX, type MlflowKV, type MlflowMetric } from "./mlflowRest.js";
import { sweepParentRunId } from "./mlflowSweep.js";
import { stepOf, tbEventOf } from "./tbScalars.js";

interface State {
  uri: string;
  experimentId: string;
  runId: string;
  artifactUri: string;
  /** Events up to this seq are in MLflow. */
  sentSeq: number;
  paramsSent: boolean;
}

const TERMINAL = new Set(["finished", "failed", "cancelled", "interrupted"]);
const RETRY_MAX_MS = 15_000;
/** How long the end of a run waits for a server that does not answer (default 30 s). */
export const finishWaitMs = (): number => Number(process.env.PROJHEAD_MLFLOW_FINISH_WAIT_MS ?? 30_000);

type Warn = (message: string) => void;

/** The resolved spec as MLflow params: dotted paths, lists as JSON. */
export function flattenParams(obj: Record<string, unknown>, prefix = ""): MlflowKV[] {
  return Object.entries(obj).flatMap(([k, v]): MlflowKV[] => {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) return flattenParams(v as Record<string, unknown>, key);
    return [{ key, value: (typeof v === "string" ? v : JSON.stringify(v)).slice(0, PARAM_VALUE_MAX) }];
  });
}

/**
 * The resolved spec's MLflow params: every field under the experiment file's name
 * (model.head.hiddenDims), enums by the labels experiment files use (train.precision "fp32"),
 * zero values included (RunSpec JSON would leave them out, and a run's params would then differ
 * in which keys they have).
 */
export function specParams(spec: RunSpec | undefined): MlflowKV[] {
  return spec ? flattenParams({ runId: spec.runId, ...fromRunSpec(spec) }) : [];
}

/** The MLflow metrics of one stored event: TensorBoard's scalars, under the same names. */
export function metricsOf(ev: EventRecord, lastStep: number): MlflowMetric[] {
  const tb = tbEventOf(ev, lastStep);
  if (!tb) return [];
  const timestamp = Math.round(ev.time * 1000);
  return tb.values.flatMap((v) => ("scalar" in v ? [{ key: v.tag, value: v.scalar, timestamp, step: tb.step }] : []));
}

export class MlflowRunLogger {
  private readonly rest: MlflowRest;
  private state: State | null = null;
  private gate = 0;
  private pumping: Promise<void> | null = null;
  private again = false;
  private failing: string | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  private refusedParams = false;
  /** The stored run was found on this server in this process (checked once per attach). */
  private verified = false;

  constructor(private readonly runDir: RunDir, private readonly target: MlflowTarget, private readonly warn: Warn) {
    this.rest = new MlflowRest(target.uri);
  }

  private get statePath(): string {
    return join(this.runDir.dir, "mlflow.json");
  }

  attach(): void {
    this.verified = false;
    if (existsSync(this.statePath)) {
      const s = JSON.parse(readFileSync(this.statePath, "utf8")) as State;
      if (s.uri === this.target.uri) this.state = s;
    }
    const events = this.runDir.readEvents();
    // A run started over (its events cut below what MLflow has, e.g. a sweep's run moved to a
    // worker that never saw it) gets a new MLflow run rather than a second history in the old.
    // (A resume's cut is never below what was sent but for the checkpoint event itself.)
    if (this.state && this.state.sentSeq > this.runDir.lastSeq() + 1) this.state = null;
    if (this.state) this.state.sentSeq = Math.min(this.state.sentSeq, this.runDir.lastSeq());
    this.gate = gateOf(events);
    this.kick();
  }

  event(ev: EventRecord): void {
    if (ev.type === "checkpoint" || TERMINAL.has(ev.type)) {
      this.gate = ev.seq;
      this.kick();
    }
  }

  /** Sends the rest, the artifacts and the run's end state (of a run that ended); waits at most
   *  finishWaitMs() for an unreachable server, then says what it lacks. */
  async finish(): Promise<boolean> {
    // A run that stopped without its final event (its worker lost, a kill) is resumed from its
    // checkpoint later: only what came before that is sent, and the MLflow run stays RUNNING.
    const last = this.runDir.readEvents().at(-1);
    const ended = Boolean(last && TERMINAL.has(last.type));
    if (ended) this.gate = last!.seq;
    this.kick();
    const deadline = Date.now() + finishWaitMs();
    // (the pump keeps its own growing wait between tries: this only watches it)
    while (Date.now() < deadline && !this.drained() && !this.stopped) {
      await Promise.race([this.pumping, sleep(200)]);
      if (!this.pumping && !this.drained()) this.kick();
    }
    const refused = this.stopped;
    this.stopped = true;
    this.wake?.();
    await this.pumping;
    if (refused) return false; // said when it was refused
    if (!this.drained()) {
      const sent = this.state?.sentSeq ?? 0;
      this.warn(`MLflow at ${this.target.uri} did not take all of run ${this.runDir.runId}: events after seq ${sent} of ${this.runDir.lastSeq()} were not sent (${this.failing ?? "no answer"}); they are in ${this.runDir.eventsPath}, and \`projhead track ${this.runDir.dir}\` sends them when the server is back`);
      return false;
    }
    if (!ended) return true;
    try {
      await this.finishRun();
      return true;
    } catch (err) {
      this.warn(`MLflow: the end of run ${this.runDir.runId} (artifacts, status) was not recorded: ${(err as Error).message}`);
      return false;
    }
  }

  private drained(): boolean {
    return Boolean(this.state && this.state.sentSeq >= this.gate);
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      this.wake?.();
      return;
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Sends until caught up with the gate; retries with a growing wait while the server fails. */
  private async pump(): Promise<void> {
    let wait = 1000;
    while (!this.stopped) {
      try {
        await this.sendUpToGate();
        if (this.failing) {
          this.warn(`MLflow at ${this.target.uri} answers again; run ${this.runDir.runId} is caught up`);
          this.failing = null;
        }
        if (this.state!.sentSeq >= this.gate) return;
        wait = 1000;
      } catch (err) {
        if (err instanceof MlflowError && err.refused && err.code !== "RESOURCE_DOES_NOT_EXIST") {
          this.warn(`MLflow refused run ${this.runDir.runId}'s data: ${err.message}; not logging this run to MLflow any more`);
          this.stopped = true;
          return;
        }
        const why = err instanceof MlflowError ? err.message : describeFetchError(err);
        if (!this.failing) this.warn(`MLflow at ${this.target.uri} is not answering (${why}); training goes on, and run ${this.runDir.runId}'s metrics are sent when it is back`);
        this.failing = why;
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, wait).unref();
        });
        this.wake = null;
        wait = Math.min(wait * 2, RETRY_MAX_MS);
      }
    }
  }

  private async ensureRun(): Promise<State> {
    if (this.state && this.verified) return this.state;
    if (this.state) {
      // A run deleted on the server, or a server started afresh: log to a new one.
      if (await this.rest.getRun(this.state.runId)) {
        this.verified = true;
        return this.state;
      }
    }
    const experimentId = await this.rest.experimentId(this.target.experiment);
    const parent = this.target.sweep ? await sweepParentRunId(this.rest, experimentId, this.target.sweep) : null;
    const spec = this.runDir.exists() ? this.runDir.readSpec() : null;
    const startTime = spec ? Date.parse(spec.createdAt) : Date.now();
    const tags = Object.entries(this.target.tags).map(([key, value]) => ({ key, value }));
    if (parent) tags.push({ key: "mlflow.parentRunId", value: parent });
    const run = await this.rest.createRun(experimentId, this.runDir.runId, startTime, tags);
    this.state = { uri: this.target.uri, experimentId, runId: run.runId, artifactUri: run.artifactUri, sentSeq: 0, paramsSent: false };
    this.verified = true;
    this.save();
    return this.state;
  }

  private async sendUpToGate(): Promise<void> {
    const state = await this.ensureRun();
    const events = this.runDir.readEvents();
    if (!state.paramsSent && !this.refusedParams) {
      const started = events.find((e) => e.type === "started" && e.seq <= this.gate);
      if (started && started.type === "started") {
        const params = specParams(started.data.resolvedSpec);
        for (let i = 0; i < params.length; i += BATCH_LIMITS.params) {
          await this.rest.logBatch(state.runId, { params: params.slice(i, i + BATCH_LIMITS.params) });
        }
        state.paramsSent = true;
        this.save();
      }
    }
    let lastStep = 0;
    let batch: MlflowMetric[] = [];
    let batchEnd = state.sentSeq;
    const flush = async () => {
      if (batch.length) await this.rest.logBatch(state.runId, { metrics: batch });
      batch = [];
      state.sentSeq = batchEnd;
      this.save();
    };
    for (const ev of events) {
      if (ev.seq > this.gate) break;
      if (ev.seq > state.sentSeq) {
        const ms = metricsOf(ev, lastStep);
        if (batch.length + ms.length > BATCH_LIMITS.metrics) await flush();
        batch.push(...ms);
        batchEnd = ev.seq;
      }
      lastStep = stepOf(ev, lastStep);
    }
    if (batchEnd > state.sentSeq) await flush();
  }

  private async finishRun(): Promise<void> {
    const state = this.state!;
    for (const [file, type] of [["spec.json", "application/json"], ["eval.json", "application/json"], ["summary.json", "application/json"]] as const) {
      const p = join(this.runDir.dir, file);
      if (existsSync(p)) await this.rest.uploadArtifact(state.artifactUri, file, readFileSync(p), type);
    }
    const summary = this.runDir.readSummary() as RunSummary | null;
    const status = summary?.state === "finished" ? "FINISHED" : summary?.state === "failed" ? "FAILED" : summary?.state === "cancelled" ? "KILLED" : null;
    // interrupted (or stopped without a summary): it stays RUNNING until a resume ends it
    if (status) await this.rest.updateRun(state.runId, status, Math.round((this.runDir.readEvents().at(-1)?.time ?? Date.now() / 1000) * 1000));
  }

  private save(): void {
    writeJsonAtomic(this.statePath, this.state);
  }
}

/** The events up to which MLflow may be sent: the newest checkpoint, or the end. */
function gateOf(events: EventRecord[]): number {
  let gate = 0;
  for (const ev of events) if (ev.type === "checkpoint" || TERMINAL.has(ev.type)) gate = ev.seq;
  return gate;
}

function describeFetchError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError") return "no answer within the request timeout";
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());
