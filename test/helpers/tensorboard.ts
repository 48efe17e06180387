// TensorBoard in the tests: its own Python readers on a log folder (tb_read.py), and its server
// started the way a user starts it (`projhead tensorboard`), on a free port of 127.0.0.1.
import { spawnSync } from "node:child_process";
import { execa, type ResultPromise } from "execa";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { venvPython } from "../../src/workers/paths.js";
import type { EventRecord } from "../../src/runs/types.js";
import { ROOT } from "./cli.js";
import { needOrSkip } from "./require.js";

export const CHROMIUM = "/usr/bin/chromium";

export interface TbRead {
  files: string[];
  scalars: Record<string, [number, number][]>;
  texts: Record<string, [number, string][]>;
  hparams?: Record<string, string | number | boolean>;
  sessionEnd?: { status: string };
  experiment?: { name?: string; hparamInfos: { name: string; type: string; domainDiscrete?: unknown[] }[]; metricInfos: { name: { tag: string } }[] };
  layout?: { category: { title: string; chart: { title: string; multiline: { tag: string[] } }[] }[] };
  crc: number[];
}

/** A skip reason when the worker's environment has no TensorBoard (a failure under CI). */
export function tensorboardMissing(): false | string {
  const ok = existsSync(venvPython()) && spawnSync(venvPython(), ["-c", "import tensorboard"], { stdio: "ignore" }).status === 0;
  return needOrSkip(ok, "TensorBoard in the worker's environment", "npm run setup (the lockfile's tensorboard group)");
}

/** A log folder as TensorBoard's own readers see it; `crcOf`: byte strings to checksum with its masked_crc32c. */
export async function readTensorBoard(logdir: string, crcOf: Uint8Array[] = []): Promise<TbRead> {
  const r = await execa(venvPython(), [join(ROOT, "test/helpers/tb_read.py"), logdir, ...crcOf.map((b) => Buffer.from(b).toString("hex"))], { reject: false });
  if (r.exitCode !== 0) throw new Error(`tb_read.py ${logdir} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as TbRead;
}

/** Scalars TensorBoard must show for a run, computed here from events.jsonl on their own
 *  (float32, as TensorBoard's simple_value stores them): every number of an event but the
 *  fields that place it (step, epoch, a layer's index and width), at the run's step. */
export function expectedScalars(events: EventRecord[]): Record<string, [number, number][]> {
  const out: Record<string, [number, number][]> = {};
  const put = (tag: string, step: number, v: unknown) => {
    if (typeof v !== "number" || !Number.isFinite(v)) return;
    (out[tag] ??= []).push([step, Math.fround(v)]);
  };
  const placing = ["step", "epoch", "steps", "epochs", "index", "dim"];
  const all = (prefix: string, step: number, d: Record<string, unknown>, suffix = "") => {
    for (const [k, v] of Object.entries(d)) {
      if (placing.includes(k)) continue;
      if (k === "knnTop1" && (prefix === "epoch" || prefix === "final") && (v as number) < 0) continue; // not measured
      put(`${prefix}/${k}${suffix}`, step, v);
    }
  };
  let lastStep = 0;
  for (const ev of events) {
    const d = ev.data as unknown as Record<string, unknown>;
    if (ev.type === "step") all("train", Number(d.step), d);
    else if (ev.type === "epoch") all("epoch", Number(d.step), d);
    else if (ev.type === "dynamics") for (const l of ev.data.layers) all("dynamics", Number(ev.data.step), l as unknown as Record<string, unknown>, `/${l.layer}`);
    else if (ev.type === "evaluation") all("eval", lastStep, d, `/${ev.data.layer}`);
    else if (ev.type === "finished") all("final", Number(d.steps), d);
    if (ev.type === "step" || ev.type === "epoch" || ev.type === "dynamics" || ev.type === "checkpoint") lastStep = Number(d.step);
    if (ev.type === "started") lastStep = Number(d.startStep);
  }
  return out;
}

export interface ServedTensorBoard {
  url: string;
  proc: ResultPromise;
  output(): string;
  stop(): Promise<void>;
}

/** `projhead tensorboard <path> --port 0` (TensorBoard picks a free port and prints it). */
export async function serveTensorBoard(path: string, timeoutMs = 60_000): Promise<ServedTensorBoard> {
  const proc = execa(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), "tensorboard", path, "--port", "0"], {
    cwd: ROOT, reject: false, buffer: false, stdin: "ignore", env: { PYTHONUNBUFFERED: "1" },
  });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGINT");
    await proc;
  };
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = /TensorBoard [\d.]+ at (http:\/\/[^\s/]+\/)/.exec(out);
    if (m) return { url: m[1]!, proc, output: () => out, stop };
    if (proc.exitCode !== null || Date.now() > end) {
      await stop();
      throw new Error(`TensorBoard did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
