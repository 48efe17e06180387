// The few calls of MLflow's documented REST API (/api/2.0/mlflow/..., and the tracking
// server's artifact proxy /api/2.0/mlflow-artifacts/...) that projhead needs, over fetch: no
// MLflow client library on the orchestrator's side. Every request has a timeout, so a slow
// server is an error like an unreachable one, and the caller retries.
export class MlflowError extends Error {
  constructor(message: string, readonly status: number, readonly code: string) {
    super(message);
  }
  /** The server answered and refused (a bad request): retrying the same call cannot help. */
  get refused(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429;
  }
}

export interface MlflowMetric { key: string; value: number; timestamp: number; step: number }
export interface MlflowKV { key: string; value: string }

/** log-batch's limits (MLflow's documented maxima per request). */
export const BATCH_LIMITS = { metrics: 1000, params: 100, tags: 100, total: 1000 };
/** MLflow's limit on a param value (older servers: 500; 6000 from MLflow 2.x). */
export const PARAM_VALUE_MAX = 6000;

export class MlflowRest {
  readonly base: string;
  constructor(uri: string, readonly timeoutMs = 10_000) {
    this.base = uri.replace(/\/+$/, "");
  }

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const url = `${this.base}/api/2.0/mlflow/${path}`;
    const res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) {
      let code = "";
      let message = text.slice(0, 300);
      try {
        const j = JSON.parse(text) as { error_code?: string; message?: string };
        code = j.error_code ?? "";
        message = j.message ?? message;
      } catch {
        // not JSON: keep the text
      }
      throw new MlflowError(`${method} ${path}: HTTP ${res.status}${code ? ` ${code}` : ""}: ${message}`, res.status, code);
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** The id of the active experiment of this name, created when there is none. */
  async experimentId(name: string): Promise<string> {
    try {
      const r = await this.call<{ experiment: { experiment_id: string; lifecycle_stage?: string } }>("GET", `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`);
      if (r.experiment.lifecycle_stage === "deleted") {
        throw new MlflowError(`experiment "${name}" is deleted on the server (restore it or choose another name)`, 400, "INVALID_STATE");
      }
      return r.experiment.experiment_id;
    } catch (err) {
      if (!(err instanceof MlflowError && err.code === "RESOURCE_DOES_NOT_EXIST")) throw err;
    }
    try {
      return (await this.call<{ experiment_id: string }>("POST", "experiments/create", { name })).experiment_id;
    } catch (err) {
      // created by another run of the sweep in the meantime
      if (err instanceof MlflowError && err.code === "RESOURCE_ALREADY_EXISTS") return this.experimentId(name);
      throw err;
    }
  }

  async createRun(experimentId: string, runName: string, startTime: number, tags: MlflowKV[]): Promise<{ runId: string; artifactUri: string }> {
    const r = await this.call<{ run: { info: { run_id: string; artifact_uri: string } } }>("POST", "runs/create", {
      experiment_id: experimentId, run_name: runName, start_time: startTime, tags,
    });
    return { runId: r.run.info.run_id, artifactUri: r.run.info.artifact_uri };
  }

  async getRun(runId: string): Promise<{ status: string; artifactUri: string } | null> {
    try {
      const r = await this.call<{ run: { info: { status: string; artifact_uri: string } } }>("GET", `runs/get?run_id=${encodeURIComponent(runId)}`);
      return { status: r.run.info.status, artifactUri: r.run.info.artifact_uri };
    } catch (err) {
      if (err instanceof MlflowError && err.code === "RESOURCE_DOES_NOT_EXIST") return null;
      throw err;
    }
  }

  async logBatch(runId: string, batch: { metrics?: MlflowMetric[]; params?: MlflowKV[]; tags?: MlflowKV[] }): Promise<void> {
    await this.call("POST", "runs/log-batch", { run_id: runId, metrics: batch.metrics ?? [], params: batch.params ?? [], tags: batch.tags ?? [] });
  }

  async updateRun(runId: string, status: "RUNNING" | "FINISHED" | "FAILED" | "KILLED", endTime?: number): Promise<void> {
    await this.call("POST", "runs/update", { run_id: runId, status, ...(endTime ? { end_time: endTime } : {}) });
  }

  /**
   * Uploads one file through the server's artifact proxy (`mlflow server`, which serves
   * artifacts by default): only for runs whose artifact URI is mlflow-artifacts:/...
   */
  async uploadArtifact(artifactUri: string, name: string, data: Uint8Array, contentType: string): Promise<void> {
    const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(artifactUri);
    if (!m) throw new MlflowError(`the run's artifact store ${artifactUri} is not served by the tracking server (start \`mlflow server\` with artifact serving, the default)`, 400, "ARTIFACTS_NOT_SERVED");
    const path = `${m[1]!.replace(/\/+$/, "")}/${name}`.split("/").map(encodeURIComponent).join("/");
    const res = await fetch(`${this.base}/api/2.0/mlflow-artifacts/artifacts/${path}`, {
      method: "PUT", headers: { "content-type": contentType }, body: data, signal: AbortSignal.timeout(this.timeoutMs * 3),
    });
    if (!res.ok) throw new MlflowError(`PUT artifact ${name}: HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`, res.status, "");
  }
}
