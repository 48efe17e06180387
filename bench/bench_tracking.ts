// What experiment tracking costs (a benchmark, not a test): examples/quickstart.yaml as
// committed, run with TensorBoard on (the default) and off (train.tensorboard: false), on one
// local worker, interleaved in ABBA order (on, off, off, on, ...) so drift in the machine's load
// falls on both sides alike. Reported per run: the wall time of runExperiment, the training
// time (the worker's started -> finished), the CPU seconds of this Node process (the
// orchestrator: gRPC stream, events.jsonl, and the event files when on), the load average, and
// the size of runs/<id>/tb. Then the writer's own cost, exactly: rebuilding the event file from
// the run's events.jsonl (what a resume does; the same encoding as live), timed over 20 repeats.
//
//   node --import tsx bench/bench_tracking.ts [--pairs 2] [--out bench/out/tracking.json]
//        [--mlflow URL]   (then "on" is TensorBoard and MLflow to that server, "off" neither)
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { runExperiment } from "../src/api/run.js";
import { loadExperiment } from "../src/experiment/index.js";
import { RunDir } from "../src/runs/store.js";
import { startLocalWorker } from "../src/workers/local.js";
import { projectRoot } from "../src/workers/paths.js";
import { RunTensorBoard } from "../src/tracking/tensorboard.js";

const ROOT = projectRoot();
const { values: opt } = parseArgs({ options: { pairs: { type: "string", default: "2" }, out: { type: "string", default: "bench/out/tracking.json" }, mlflow: { type: "string" } } });
const pairs = Number(opt.pairs);
const runsRoot = resolve(ROOT, "bench/out/tracking-runs");
rmSync(runsRoot, { recursive: true, force: true });

const dirBytes = (d: string): number => {
  try {
    return readdirSync(d).reduce((n, f) => n + statSync(join(d, f)).size, 0);
  } catch {
    return 0;
  }
};

const worker = await startLocalWorker({ runRoot: runsRoot, dataRoots: [] });
const rows: Record<string, unknown>[] = [];
try {
  const order = Array.from({ length: pairs }, (_, i) => (i % 2 === 0 ? [true, false] : [false, true])).flat();
  for (const [i, tb] of order.entries()) {
    const exp = await loadExperiment(join(ROOT, "examples/quickstart.yaml"));
    exp.train.tensorboard = tb;
    if (tb && opt.mlflow) exp.tracking = { mlflow: { uri: opt.mlflow, experiment: "bench-tracking" } };
    const runId = `qs-${i}-${tb ? "on" : "off"}`;
    const load = loadavg()[0];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const s = await runExperiment(exp, { worker, runsRoot, runId });
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const events = new RunDir(join(runsRoot, runId)).readEvents();
    const train = events.at(-1)!.time - events.find((e) => e.type === "started")!.time;
    const row = { runId, tensorboard: tb, mlflow: Boolean(tb && opt.mlflow), state: s.state, wallSeconds: +wall.toFixed(2), trainSeconds: +train.toFixed(2), nodeCpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(3), events: events.length, tbBytes: dirBytes(join(runsRoot, runId, "tb")), load1: +load!.toFixed(2) };
    rows.push(row);
    process.stderr.write(JSON.stringify(row) + "\n");
  }
} finally {
  await worker.stop();
}

// The writer alone: the whole event file of one quickstart run, rebuilt from its events.jsonl.
const onRun = rows.find((r) => r.tensorboard)!.runId as string;
const rd = new RunDir(join(runsRoot, onRun));
const tb = new RunTensorBoard(rd, { hparams: { "method.name": "joint", seed: 0 } });
const times: number[] = [];
for (let i = 0; i < 20; i++) {
  const t0 = performance.now();
  tb.attach();
  tb.close();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const n = rd.readEvents().length;
const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
const on = rows.filter((r) => r.tensorboard);
const off = rows.filter((r) => !r.tensorboard);
const result = {
  date: new Date().toISOString(), pairs, rows,
  writer: { events: n, rebuildMsMedian: +median(times).toFixed(2), perEventMicroseconds: +((median(times) * 1000) / n).toFixed(1) },
  medians: {
    on: { wall: median(on.map((r) => r.wallSeconds as number)), train: median(on.map((r) => r.trainSeconds as number)), nodeCpu: median(on.map((r) => r.nodeCpuSeconds as number)) },
    off: { wall: median(off.map((r) => r.wallSeconds as number)), train: median(off.map((r) => r.trainSeconds as number)), nodeCpu: median(off.map((r) => r.nodeCpuSeconds as number)) },
  },
};
mkdirSync(dirname(resolve(ROOT, opt.out!)), { recursive: true });
writeFileSync(resolve(ROOT, opt.out!), JSON.stringify(result, null, 2) + "\n");
process.stdout.write(JSON.stringify(result.medians) + "\n" + JSON.stringify(result.writer) + "\n");
