// A real MLflow tracking server for the tests: `mlflow server` from the pinned environment
// tools/mlflow/.venv (made by `node scripts/setup.mjs --dev`), SQLite backend store and a local
// artifact folder, on 127.0.0.1 at a port chosen here (kept across a restart). Started in its
// own process group, so stop() ends it and the processes it starts, and nothing else.
import { execa, type ResultPromise } from "execa";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT } from "./cli.js";
import { needOrSkip } from "./require.js";

export const MLFLOW = join(ROOT, "tools/mlflow/.venv/bin/mlflow");

export function mlflowMissing(): false | string {
  return needOrSkip(existsSync(MLFLOW), `the test MLflow server (${MLFLOW})`, "node scripts/setup.mjs --dev");
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export class MlflowServer {
  private proc: ResultPromise | null = null;
  private log = "";
  readonly url: string;

  constructor(readonly dir: string, readonly port: number) {
    this.url = `http://127.0.0.1:${port}`;
  }

  async start(timeoutMs = 240_000): Promise<void> {
    this.proc = execa(MLFLOW, [
      "server", "--backend-store-uri", `sqlite:///${join(this.dir, "mlflow.db")}`, "--artifacts-destination", join(this.dir, "artifacts"),
      "--host", "127.0.0.1", "--port", String(this.port), "--workers", "1",
    ], { cwd: this.dir, reject: false, buffer: false, stdin: "ignore", detached: true, env: { PYTHONUNBUFFERED: "1" } });
    this.proc.stdout!.on("data", (b: Buffer) => (this.log += b.toString()));
    this.proc.stderr!.on("data", (b: Buffer) => (this.log += b.toString()));
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null) throw new Error(`mlflow server exited (${this.proc.exitCode}):\n${this.log}`);
      try {
        if ((await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2_000) })).ok) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await this.stop();
    throw new Error(`mlflow server did not answer within ${timeoutMs} ms:\n${this.log}`);
  }

  /** SIGKILL to its process group: the server dies as in a crash, mid-request or not. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    if (p.pid && p.exitCode === null) {
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await p;
  }

  output(): string {
    return this.log;
  }

  async api<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/api/2.0/mlflow/${path}`, {
      method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** Every value of one metric of a run, in step order, as [step, value]. */
  async history(runId: string, key: string): Promise<[number, number][]> {
    const r = await this.api<{ metrics?: { step?: string | number; value: number; timestamp: string | number }[] }>("GET", `metrics/get-history?run_id=${runId}&metric_key=${encodeURIComponent(key)}&max_results=25000`);
    return (r.metrics ?? []).map((m) => [Number(m.step ?? 0), m.value] as [number, number]).sort((a, b) => a[0] - b[0]);
  }

  async artifact(experimentId: string, runId: string, name: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.url}/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/${name}`);
    return { status: res.status, text: await res.text() };
  }
}
