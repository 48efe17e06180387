#!/usr/bin/env node
// The CPU benchmarks (not tests), run by `npm run bench` after setup. Short durations: the whole
// thing takes a few minutes on 2 cores. Results (JSON) go to bench/out/; a table is printed.
//   node scripts/bench.mjs [--long] [--only train|orchestrated] [--threads N]
// --long uses the longer settings docs/BENCHMARKS.md was filled with (about 10 minutes).
// The GPU measurements are bench/gpu.sh (one script for a lent GPU machine).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { venvPython } from "./lib/paths.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const args = process.argv.slice(2);
const long = args.includes("--long");
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const threads = args.includes("--threads") ? args[args.indexOf("--threads") + 1] : String(Math.min(2, cpus().length));
const outDir = join(root, "bench/out");
mkdirSync(outDir, { recursive: true });

// Every variant gets the same torch thread count (train.threads); the peer's DataLoader gets as
// many workers as there are threads (2 on a 2-core machine).
const train = long
  ? ["--n", "1024", "--rounds", "8"]
  : ["--n", "768", "--rounds", "3"];
const orch = long
  ? ["--pairs", "3", "--epochs", "3", "--train-limit", "2048"]
  : ["--pairs", "2", "--epochs", "2", "--train-limit", "1024"];

function run(cmd, argv) {
  process.stderr.write(`[bench] ${[cmd, ...argv].join(" ")}\n`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    process.stderr.write(`[bench] failed (exit ${r.status})\n`);
    process.exit(r.status ?? 1);
  }
}

const t0 = Date.now();
const trainOut = join(outDir, "train-cpu.json");
const orchOut = join(outDir, "orchestrated-cpu.json");
if (only !== "orchestrated") {
  run(venvPython(root), [
    "bench/bench_train.py", "--device", "cpu", "--preset", "cpu", "--threads", threads, "--workers", threads,
    ...train, "--out", trainOut, "--quiet",
  ]);
}
if (only !== "train") {
  run(process.execPath, ["--import", "tsx", "bench/bench_orchestrated.ts", "--device", "cpu", "--threads", threads, ...orch, "--out", orchOut, "--quiet"]);
}

// One combined table.
const lines = ["", `CPU benchmarks (${cpus()[0]?.model ?? "cpu"}, ${cpus().length} cores, ${threads} torch threads), ${((Date.now() - t0) / 1000).toFixed(0)} s in all`];
if (only !== "orchestrated") {
  const d = JSON.parse(readFileSync(trainOut, "utf8"));
  const c = d.meta.config;
  lines.push(`training, preset cpu: ${c.backbone} width ${c.width}, ${c.size} px shapes, batch ${c.batch}, ${c.n} images/epoch, ${c.rounds} timed rounds`);
  lines.push(`  ${"variant".padEnd(12)}${"img/s".padStart(9)}${"step med ms".padStart(13)}${"step p90 ms".padStart(13)}${"50k epoch s".padStart(13)}${"CPU ms/img".padStart(12)}`);
  for (const [name, r] of Object.entries(d.variants)) {
    lines.push(`  ${name.padEnd(12)}${r.images_per_sec.toFixed(1).padStart(9)}${r.step_ms_median.toFixed(0).padStart(13)}${r.step_ms_p90.toFixed(0).padStart(13)}${r.epoch_50k_seconds.toFixed(0).padStart(13)}${r.cpu_ms_per_image.toFixed(2).padStart(12)}`);
  }
  for (const [k, v] of Object.entries(d.ratios)) {
    const val = typeof v === "number" ? v : v.median;
    const spread = typeof v === "number" ? "" : `  (per round ${Math.min(...v.per_round).toFixed(2)}..${Math.max(...v.per_round).toFixed(2)})`;
    lines.push(`  ${k.padEnd(34)}${val.toFixed(3)}${spread}`);
  }
}
if (only !== "train") {
  const d = JSON.parse(readFileSync(orchOut, "utf8"));
  const s = d.summary;
  lines.push(`orchestrated (TS over gRPC, local worker) vs in-process, ${d.ratios.length} pairs:`);
  lines.push(`  including start-up  ${s.orchestratedWallMedian.toFixed(2)} s vs ${s.inprocessWallMedian.toFixed(2)} s  ratio ${s.wallRatioMedian.toFixed(3)}`);
  lines.push(`  training only       ${s.orchestratedTrainMedian.toFixed(2)} s vs ${s.inprocessTrainMedian.toFixed(2)} s  ratio ${s.trainRatioMedian.toFixed(3)}`);
  lines.push(`  per-pair ratios     ${d.ratios.map((r) => `${r.wall.toFixed(2)}/${r.train.toFixed(2)}`).join(", ")} (start-up incl. / training only)`);
  lines.push(`  CPU of the orchestration itself (worker server + Node): ${s.orchestrationCpuSecondsMedian.toFixed(2)} s vs ${s.inprocessCpuSecondsMedian.toFixed(2)} s for the whole in-process run`);
}
lines.push("CPU timings on a shared machine are noisy: compare ratios from the same run, not absolute numbers.");
lines.push(`JSON: ${[only !== "orchestrated" && trainOut, only !== "train" && orchOut].filter(Boolean).join(", ")}`);
console.log(lines.join("\n"));
