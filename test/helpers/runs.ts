// Shared by the reliability tests: a tiny CPU experiment (a few seconds of training), readers of
// the run directory, and waits that poll for a condition (never a fixed sleep).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { stringify } from "yaml";
import { deepMerge, resolveExperiment, type ResolvedExperiment } from "../../src/experiment/index.js";
import { venvPython } from "../../src/workers/paths.js";
import type { EventRecord } from "../../src/runs/types.js";
import { isAlive, ROOT, waitFor } from "./cli.js";

/** 256 shapes images, batch 32: 8 steps per epoch of a width-4 convnet, one thread, fp32. */
export const TINY = {
  name: "tiny",
  seed: 7,
  data: { name: "shapes", trainLimit: 256, testLimit: 64, syntheticSize: 512 },
  model: { backbone: "convnet", width: 4, head: { hiddenDims: [32], outDim: 16 } },
  optim: { name: "sgd", lr: 0.1 },
  train: {
    epochs: 4, batchSize: 32, device: "cpu", precision: "fp32", logEverySteps: 1, knnEveryEpochs: 0,
    checkpointEveryEpochs: 1, checkpointEverySteps: 2, threads: 1,
  },
};

export function tinyInput(over: Record<string, unknown> = {}): Record<string, unknown> {
  return deepMerge(TINY, over) as Record<string, unknown>;
}

export function tinyExperiment(over: Record<string, unknown> = {}): ResolvedExperiment {
  return resolveExperiment(tinyInput(over), { source: "test" });
}

export function tinyYaml(over: Record<string, unknown> = {}): string {
  return stringify(tinyInput(over));
}

/** Complete lines of a JSON-lines file (a torn last line is ignored). */
export function readJsonl<T = Record<string, unknown>>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, "utf8");
  const end = text.lastIndexOf("\n");
  if (end < 0) return [];
  return text.slice(0, end).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

export const clientEvents = (runDir: string) => readJsonl<EventRecord>(join(runDir, "events.jsonl"));
export const workerEvents = (runDir: string) => readJsonl<{ seq: number; type: string; [k: string]: unknown }>(join(runDir, "worker-events.jsonl"));

/** seq is 1, 2, ..., N: no gap, no duplicate. */
export function assertGapless(events: { seq: number }[], what: string): void {
  events.forEach((e, i) => assert.equal(e.seq, i + 1, `${what}: event #${i + 1} has seq ${e.seq} (gap or duplicate)`));
}

/** Loss of every step event, by step number, each step exactly once. */
export function stepLosses(events: EventRecord[]): number[] {
  const steps = events.filter((e) => e.type === "step").map((e) => e.data as { step: number; loss: number });
  steps.forEach((s, i) => assert.equal(s.step, i + 1, `step events out of order at #${i + 1}: ${s.step}`));
  return steps.map((s) => s.loss);
}

export async function waitForWorkerEvent(runDir: string, pred: (e: { type: string; [k: string]: unknown }) => boolean, timeoutMs: number, what: string): Promise<void> {
  await waitFor(() => workerEvents(runDir).some(pred), timeoutMs, what);
}

/** The pid of the training process of a run (it writes it into train.lock), 0 when none yet. */
export function trainingPid(runDir: string): number {
  const p = join(runDir, "train.lock");
  return existsSync(p) ? Number(readFileSync(p, "utf8").trim() || 0) : 0;
}

export async function waitForExit(pid: number, timeoutMs: number, what: string): Promise<void> {
  await waitFor(() => !isAlive(pid), timeoutMs, what);
}

export interface ServedWorker {
  port: number;
  pid: number;
  stderr(): string;
  stop(): Promise<void>;
}

/** `python -m projhead_worker serve <args>` as its own process, once it printed READY; rejects
 *  with the exit code and stderr when it exits first. */
export async function serveWorker(args: string[], env: Record<string, string> = {}): Promise<ServedWorker> {
  const proc = execa(venvPython(), ["-m", "projhead_worker", "serve", ...args], {
    cwd: ROOT, reject: false, buffer: false, stdin: "ignore", env: { PYTHONUNBUFFERED: "1", ...env },
  });
  let stderr = "";
  proc.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await proc;
  };
  const ready = await new Promise<{ port: number; pid: number } | { exitCode: number | undefined }>((resolve) => {
    let out = "";
    proc.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      const line = out.split("\n").find((l) => l.includes('"ready"'));
      if (line) resolve(JSON.parse(line) as { port: number; pid: number });
    });
    void proc.then((r) => resolve({ exitCode: r.exitCode }));
  });
  if ("exitCode" in ready) {
    await proc;
    const err = new Error(`worker exited with code ${ready.exitCode}: ${stderr}`) as Error & { exitCode?: number; stderr?: string };
    err.exitCode = ready.exitCode;
    err.stderr = stderr;
    throw err;
  }
  return { port: ready.port, pid: ready.pid, stderr: () => stderr, stop };
}

/** Runs Python code in the worker's environment; returns stdout (throws with stderr on failure). */
export async function python(code: string, args: string[] = []): Promise<string> {
  const r = await execa(venvPython(), ["-c", code, ...args], { cwd: ROOT, reject: false });
  assert.equal(r.exitCode, 0, `python failed:\n${r.stderr}`);
  return r.stdout;
}

/** Loads a checkpoint the way the worker does (weights_only); returns its step. */
export async function checkpointStep(path: string): Promise<number> {
  const out = await python(
    "import sys, torch, math\n" +
      "c = torch.load(sys.argv[1], map_location='cpu', weights_only=True)\n" +
      "assert c['format'] == 'projhead.ckpt.v1'\n" +
      "assert all(bool(torch.isfinite(t).all()) for t in c['model'].values() if t.is_floating_point())\n" +
      "print(c['progress']['step'])",
    [path],
  );
  return Number(out.trim());
}
