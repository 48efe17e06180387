// Orchestration overhead, measured side by side (a benchmark, not a test): the same small
// training run driven through the TypeScript orchestrator over gRPC (runExperiment with a local
// worker, as `projhead run` does) against the worker's training called in-process
// (bench/inproc_train.py: projhead_worker.training.train.train with the very RunConfig the worker
// resolved for the orchestrated run, read from its worker-spec.json).
//
//   node --import tsx bench/bench_orchestrated.ts [--pairs 3] [--epochs 3] [--train-limit 2048]
//        [--width 16] [--batch 256] [--threads 2] [--device cpu] [--out bench/out/orchestrated-cpu.json]
//
// Two wall times per run:
//   including start-up: orchestrated = the runExperiment call (worker process start, READY,
//     health check, StartRun, the training process's start and torch import, training, the
//     event stream, worker stop); in-process = spawning the Python driver until it exits
//     (interpreter and torch import, training).
//   training only: the worker's own `started` -> `finished` event times (time.time() in the
//     training process; the same events and the same code in both cases).
// Pairs run in ABBA order (orch, inproc, inproc, orch, ...) after one untimed import warm-up, and
// the medians of the per-pair ratios are reported. On a shared machine the wall times are noisy;
// the CPU seconds the orchestration itself spends (worker server + Node client) are not, and bound
// what it can cost on a machine that training keeps busy.
import { execa } from "execa";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { localDataRoots, runExperiment } from "../src/api/run.js";
import { resolveExperiment } from "../src/experiment/index.js";
import { RunDir } from "../src/runs/store.js";
import { startLocalWorker } from "../src/workers/local.js";
import { projectRoot, venvPython } from "../src/workers/paths.js";

const ROOT = projectRoot();

const { values: opt } = parseArgs({
  options: {
    pairs: { type: "string", default: "3" },
    epochs: { type: "string", default: "3" },
    "train-limit": { type: "string", default: "2048" },
    "test-limit": { type: "string", default: "500" },
    "synthetic-size": { type: "string", default: "0" },
    backbone: { type: "string", default: "convnet" },
    width: { type: "string", default: "16" },
    batch: { type: "string", default: "256" },
    threads: { type: "string", default: "2" },
    device: { type: "string", default: "cpu" },
    precision: { type: "string", default: "auto" },
    compile: { type: "boolean", default: false },
    out: { type: "string", default: "" },
    quiet: { type: "boolean", default: false },
  },
});

const num = (k: keyof typeof opt): number => Number(opt[k]);
const device = String(opt.device);
const out = resolve(String(opt.out || join(ROOT, "bench/out", `orchestrated-${device.replace(":", "")}.json`)));
const say = (msg: string) => opt.quiet || process.stderr.write(`[bench_orchestrated] ${msg}\n`);

const experiment = resolveExperiment(
  {
    name: "bench-orch",
    seed: 0,
    data: { name: "shapes", trainLimit: num("train-limit"), testLimit: num("test-limit"), syntheticSize: num("synthetic-size") },
    model: { backbone: opt.backbone, width: num("width"), cifarStem: true },
    method: { name: "joint" },
    train: {
      epochs: num("epochs"),
      batchSize: num("batch"),
      device,
      precision: opt.precision,
      compile: opt.compile,
      threads: num("threads"),
      knnEveryEpochs: 1,
      checkpointEveryEpochs: 1,
      logEverySteps: 10,
    },
    runtime: { kind: "local" },
  },
  { source: "bench" },
);

interface Timing {
  kind: "orchestrated" | "inprocess";
  pair: number;
  runId: string;
  wallSeconds: number; // including start-up
  trainSeconds: number; // started -> finished event
  /** orchestrated: CPU seconds of the worker server process and of this Node process over the
   * whole run (the orchestration's own cost; the training process is not in it). in-process: CPU
   * seconds of the Python driver in all and between started and finished. */
  cpu: Record<string, number>;
}

/** utime + stime of a live process from /proc (Linux), 0 when it cannot be read. */
function procCpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop()!.trim().split(/\s+/);
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
const runsRoot = join(ROOT, "bench/out/orchestrated-runs", `${device.replace(":", "")}-${stamp}`);
mkdirSync(runsRoot, { recursive: true });
let specPath = "";

async function orchestrated(pair: number): Promise<Timing> {
  const runId = `orch-${pair}`;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  // What runExperiment does with runtime "local" (withWorker: obtain, run, stop), with the worker
  // obtained here so that its CPU time can be read before it stops.
  const worker = await startLocalWorker({ runRoot: runsRoot, dataRoots: localDataRoots(experiment) });
  let serverCpu = 0;
  try {
    await runExperiment(experiment, { runsRoot, runId, worker });
    serverCpu = procCpuSeconds(worker.pid);
  } finally {
    await worker.stop();
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  const nodeCpu = (c.user + c.system) / 1e6;
  const events = new RunDir(join(runsRoot, runId)).readEvents();
  const started = events.find((e) => e.type === "started");
  const finished = events.find((e) => e.type === "finished");
  if (!started || !finished) throw new Error(`${runId}: no started/finished events (run failed?)`);
  specPath ||= join(runsRoot, runId, "worker-spec.json");
  return { kind: "orchestrated", pair, runId, wallSeconds, trainSeconds: finished.time - started.time, cpu: { workerServer: serverCpu, node: nodeCpu } };
}

async function inProcess(pair: number): Promise<Timing> {
  const runId = `inproc-${pair}`;
  if (!specPath) throw new Error("the in-process run needs the spec of an orchestrated run first");
  const t0 = performance.now();
  const r = await execa(venvPython(), [join(ROOT, "bench/inproc_train.py"), "--spec", specPath, "--run-dir", join(runsRoot, runId), "--run-id", runId], {
    cwd: ROOT,
    env: { PYTHONUNBUFFERED: "1" },
    reject: false,
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0) throw new Error(`in-process run failed (exit ${r.exitCode}):\n${String(r.stderr).split("\n").slice(-20).join("\n")}`);
  const lines = String(r.stdout).trim().split("\n");
  const res = JSON.parse(lines[lines.length - 1]!) as { started: number; finished: number; train_cpu_seconds: number; process_cpu_seconds: number };
  return {
    kind: "inprocess", pair, runId, wallSeconds, trainSeconds: res.finished - res.started,
    cpu: { process: res.process_cpu_seconds, training: res.train_cpu_seconds },
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const pairs = num("pairs");
  say(`warming the import cache (untimed)`);
  await execa(venvPython(), ["-c", "import torch, torchvision, grpc, projhead_worker.training.train"], { cwd: ROOT });
  const timings: Timing[] = [];
  const loadStart = loadavg();
  for (let p = 0; p < pairs; p++) {
    // ABBA: the first pair starts with the orchestrated run (it also yields the spec).
    const order = p % 2 === 0 ? [orchestrated, inProcess] : [inProcess, orchestrated];
    for (const run of order) {
      const t = await run(p);
      timings.push(t);
      say(`pair ${p + 1}/${pairs} ${t.kind.padEnd(12)} wall ${t.wallSeconds.toFixed(2)} s, training ${t.trainSeconds.toFixed(2)} s`);
    }
  }
  const ratios = [];
  for (let p = 0; p < pairs; p++) {
    const o = timings.find((t) => t.pair === p && t.kind === "orchestrated")!;
    const i = timings.find((t) => t.pair === p && t.kind === "inprocess")!;
    ratios.push({ pair: p, wall: o.wallSeconds / i.wallSeconds, train: o.trainSeconds / i.trainSeconds, startupOverheadSeconds: (o.wallSeconds - o.trainSeconds) - (i.wallSeconds - i.trainSeconds) });
  }
  const pick = (kind: Timing["kind"], k: "wallSeconds" | "trainSeconds") => median(timings.filter((t) => t.kind === kind).map((t) => t[k]));
  const doc = {
    meta: {
      date: new Date().toISOString(),
      command: `node --import tsx bench/bench_orchestrated.ts ${process.argv.slice(2).join(" ")}`.trim(),
      cpuModel: cpus()[0]?.model ?? "",
      cpuCount: cpus().length,
      node: process.version,
      python: venvPython(),
      loadavgStart: loadStart,
      loadavgEnd: loadavg(),
      experiment: { data: experiment.data, model: experiment.model, method: experiment.method.name, train: experiment.train },
      runsRoot,
    },
    timings,
    ratios,
    summary: {
      orchestratedWallMedian: pick("orchestrated", "wallSeconds"),
      inprocessWallMedian: pick("inprocess", "wallSeconds"),
      orchestratedTrainMedian: pick("orchestrated", "trainSeconds"),
      inprocessTrainMedian: pick("inprocess", "trainSeconds"),
      wallRatioMedian: median(ratios.map((r) => r.wall)),
      // The orchestration's own CPU (worker server + Node client, whole run) relative to the
      // in-process run's CPU in all: robust to other load, unlike the wall-time ratios.
      orchestrationCpuSecondsMedian: median(timings.filter((t) => t.kind === "orchestrated").map((t) => t.cpu.workerServer! + t.cpu.node!)),
      inprocessCpuSecondsMedian: median(timings.filter((t) => t.kind === "inprocess").map((t) => t.cpu.process!)),
      trainRatioMedian: median(ratios.map((r) => r.train)),
      startupOverheadSecondsMedian: median(ratios.map((r) => r.startupOverheadSeconds)),
    },
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(doc, null, 2) + "\n");
  const s = doc.summary;
  console.log(
    [
      `orchestrated (gRPC, local worker) vs in-process, ${pairs} pairs, ${experiment.model.backbone} on ${device}, ${experiment.train.epochs} epochs of ${experiment.data.trainLimit || experiment.data.syntheticSize || "all"} shapes images`,
      `                      orchestrated   in-process   ratio (median of pairs)`,
      `including start-up    ${s.orchestratedWallMedian.toFixed(2).padStart(10)} s ${s.inprocessWallMedian.toFixed(2).padStart(10)} s   ${s.wallRatioMedian.toFixed(3)}`,
      `training only         ${s.orchestratedTrainMedian.toFixed(2).padStart(10)} s ${s.inprocessTrainMedian.toFixed(2).padStart(10)} s   ${s.trainRatioMedian.toFixed(3)}`,
      `start-up overhead of the orchestrated path: ${s.startupOverheadSecondsMedian.toFixed(2)} s (median)`,
      `CPU of the orchestration itself (worker server + Node client): ${s.orchestrationCpuSecondsMedian.toFixed(2)} s, vs ${s.inprocessCpuSecondsMedian.toFixed(2)} s for the whole in-process run (medians)`,
      `results: ${out}`,
    ].join("\n"),
  );
  if (!process.env.PROJHEAD_BENCH_KEEP_RUNS) rmSync(runsRoot, { recursive: true, force: true });
}

main().catch((err) => {
  process.stderr.write(`bench_orchestrated: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
