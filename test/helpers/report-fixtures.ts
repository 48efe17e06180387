// Well-formed run and sweep directories for the report tests (the report is a pure formatter,
// so synthetic numbers with known means and known paired differences are what its tests need).
// Layout:
//   <root>/runs/<id>/{spec.json,events.jsonl,summary.json,eval.json}
//   <root>/sweeps/study/sweep.json   (runsRoot "runs", relative to <root>)
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { LayerEvalRecord, RunSummary, SweepRecord } from "../../src/runs/types.js";

/** An events.jsonl line as written to disk (kept loose: it includes newer event types). */
interface FixtureEvent {
  seq: number;
  time: number;
  type: string;
  data: Record<string, unknown>;
}

export interface FixtureRun {
  id: string;
  method: string;
  seed: number;
  state: "finished" | "failed" | "running";
  overrides?: Record<string, unknown>;
  /** Linear probe top-1 of h; other layers and metrics derive from it. */
  linearH?: number;
  /** Layers evaluated; none = no eval.json. */
  layers?: string[];
  /** Write the evaluation as events only (eval_at_end without eval.json yet). */
  evalInEvents?: boolean;
  /** eval.json's untrainedLayers (head layers of no_head, directclr); omitted: an older eval.json. */
  untrainedLayers?: string[];
  /** Layers measured by the "dynamics" events (default: `layers`, else all four). */
  dynamicsLayers?: string[];
  /** Layers whose linear probe hit its iteration cap (probeConverged false in eval.json). */
  probeCapped?: string[];
  /** Training wall time in summary.json (default 60 s; bilevel 20 s per inner step more). */
  trainSeconds?: number;
}

/** Inner head steps per outer step of a fixture run (bilevel: its innerSteps override). */
function innerSteps(run: FixtureRun): number {
  return run.method === "bilevel" ? Number(run.overrides?.["method.bilevel.innerSteps"] ?? 1) : 0;
}

/** kNN of the random-init backbone: what every kNN display starts from. */
export const initialKnn = (seed: number) => 0.1 + 0.001 * seed;

/** The fixture's layer dynamics: a closed form the tests can recompute. */
export function dynamicsValue(run: FixtureRun, layer: string, index: number, epoch: number) {
  const base = run.linearH ?? 0.8;
  const drop = layer === "z" ? 0.1 : 0.03 * index;
  return {
    knnTop1: base - drop - 0.05 - 0.3 * Math.exp(-epoch / 2),
    effectiveRank: 10 + 2 * epoch - index,
    alignment: 0.8 - 0.05 * epoch + 0.01 * index,
    uniformity: -1 - 0.3 * epoch + 0.1 * index,
  };
}

const DIMS: Record<string, number> = { h: 64, "head.1": 64, "head.2": 64, z: 32 };
const METHOD_DECAY: Record<string, number> = { joint: 1, bilevel: 0.75, no_head: 0.6, fixed_head: 1.3 };

function layerRecord(layer: string, index: number, run: FixtureRun): LayerEvalRecord {
  const base = run.linearH ?? 0.8;
  // The head layers lose accuracy toward z, as in the paper; z collapses to a few directions.
  const drop = layer === "h" ? 0 : layer === "z" ? 0.1 : 0.03 * index;
  const dim = DIMS[layer] ?? 16;
  // Methods differ in how fast the spectrum decays (joint is the reference, factor 1).
  const f = METHOD_DECAY[run.method] ?? 1;
  const rate = f * (layer === "z" ? 0.35 : 0.08 + 0.02 * index);
  const singularValues = Array.from({ length: dim }, (_, i) => (i >= dim - 2 && layer === "z" ? 0 : 5 * Math.exp(-rate * i)));
  return {
    layer,
    index,
    dim,
    linearTop1: base - drop,
    probeConverged: true,
    probeIterations: 120,
    knnTop1: base - drop - 0.05,
    effectiveRank: (layer === "z" ? 4 + run.seed * 0.1 : 30 - index * 3 + run.seed * 0.1) / f,
    singularValues,
    alignment: 0.4 + 0.1 * index,
    uniformity: -3 + 0.2 * index,
  };
}

export async function writeRun(root: string, run: FixtureRun): Promise<string> {
  const dir = join(root, "runs", run.id);
  await mkdir(dir, { recursive: true });
  const overrides = { seed: run.seed, "method.name": run.method, ...run.overrides };
  const spec = {
    runId: run.id,
    name: run.id,
    // uint64 fields are strings in proto3 JSON.
    seed: String(run.seed),
    data: { name: "shapes" },
    model: { backbone: "convnet" },
    method: { name: run.method },
  };
  await writeFile(
    join(dir, "spec.json"),
    JSON.stringify({ runId: run.id, experiment: "study", spec, overrides, createdAt: "2026-11-27T10:00:00Z" }),
  );

  const events: FixtureEvent[] = [];
  let seq = 0;
  const push = (type: string, data: Record<string, unknown>) =>
    events.push({ seq: ++seq, time: 1_790_000_000 + seq, type, data });
  push("started", { device: "cpu", trainImages: 512, stepsPerEpoch: 10, totalSteps: 50, initialKnnTop1: initialKnn(run.seed) });
  const epochs = run.state === "finished" ? 5 : 3;
  const offset = run.method === "bilevel" ? -0.2 : run.method === "no_head" ? 0.3 : 0;
  const dynLayers = run.dynamicsLayers ?? (run.layers?.length ? run.layers : ALL);
  const dynamics = (e: number) =>
    push("dynamics", {
      epoch: e,
      step: e * 10,
      seconds: 0.4,
      subsetSize: 256,
      layers: dynLayers.map((layer, index) => ({ layer, index, dim: DIMS[layer] ?? 16, ...dynamicsValue(run, layer, index, e) })),
    });
  dynamics(0);
  for (let e = 1; e <= epochs; e++) {
    for (let s = 1; s <= 10; s++) {
      const step = (e - 1) * 10 + s;
      // `loss`: the batch before the step, every method alike; bilevel adds its post-solve loss.
      const loss = 4 + offset + 2 * Math.exp(-step / 15) + 0.05 * Math.sin(step * 1.7 + run.seed);
      const head = run.method === "bilevel" ? { headLoss: loss - 0.5, innerGain: 0.5 } : {};
      push("step", { step, epoch: e, loss, ...head, lr: 0.1, imagesPerSec: 900, contrastiveAcc: 0.5 });
    }
    const knn = e % 2 === 0 || e === epochs ? (run.linearH ?? 0.8) - 0.3 * Math.exp(-e / 2) : -1;
    push("epoch", { epoch: e, step: e * 10, loss: 4 + offset + 2 * Math.exp(-e / 1.5), knnTop1: knn, epochSeconds: 3, imagesPerSec: 900, peakMemoryBytes: 0 });
    if (e % 2 === 0 || e === epochs) dynamics(e);
  }
  const layers = (run.layers ?? []).map((l, i) => layerRecord(l, i, run));
  if (run.evalInEvents) for (const l of layers) push("evaluation", { ...l });
  if (run.state === "failed") push("failed", { cause: "non_finite_loss", message: "loss became NaN at step 30" });
  if (run.state === "finished") push("finished", { steps: 50, epochs: 5, finalLoss: events.filter((e) => e.type === "step").at(-1)!.data.loss, knnTop1: 0.7, wallSeconds: 83.4 });

  let text = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
  // A live run is caught mid-append: the last line is cut short.
  if (run.state === "running") text += '{"seq":999,"time":1790000999,"type":"st';
  await writeFile(join(dir, "events.jsonl"), text);

  if (run.state !== "running") {
    const lastStep = events.filter((e) => e.type === "step").at(-1)!.data;
    const lastKnn = events.filter((e) => e.type === "epoch" && (e.data.knnTop1 as number) >= 0).at(-1)!.data;
    const steps = epochs * 10;
    const summary: RunSummary & Record<string, unknown> = {
      runId: run.id,
      name: run.id,
      experiment: "study",
      method: run.method,
      dataset: "shapes",
      backbone: "convnet",
      seed: run.seed,
      state: run.state,
      epochs,
      steps: epochs * 10,
      finalLoss: lastStep.loss as number,
      knnTop1: lastKnn.knnTop1 as number,
      initialKnnTop1: initialKnn(run.seed),
      wallSeconds: run.state === "finished" ? 83.4 : 41.2,
      trainSeconds: run.trainSeconds ?? 60 + 20 * innerSteps(run),
      imagesSeen: steps * 64,
      optimizerSteps: steps,
      innerHeadSteps: steps * innerSteps(run),
      runDir: dir,
      overrides,
      ...(run.state === "failed" ? { error: "non_finite_loss: loss became NaN at step 30" } : {}),
    };
    await writeFile(join(dir, "summary.json"), JSON.stringify(summary, null, 2));
  }
  if (layers.length && !run.evalInEvents) {
    const rec = {
      runId: run.id,
      checkpoint: "checkpoints/final.pt",
      step: 50,
      seconds: 12,
      trainImages: 512,
      testImages: 256,
      layers: [...layers].reverse().map((l) => {
        const capped = run.probeCapped?.includes(l.layer) ?? false;
        return { ...l, probeConverged: !capped, probeIterations: capped ? 1000 : 40 + l.index };
      }),
      ...(run.untrainedLayers ? { untrainedLayers: run.untrainedLayers } : {}),
    };
    await writeFile(join(dir, "eval.json"), JSON.stringify(rec));
  }
  return dir;
}

export const ALL = ["h", "head.1", "head.2", "z"];
const K1 = { "method.bilevel.innerSteps": 1 };
const K5 = { "method.bilevel.innerSteps": 5 };
const HEADLESS = { layers: ["h"], untrainedLayers: ["head.1", "head.2", "z"], dynamicsLayers: ALL };

/**
 * The study: 5 methods, bilevel in two variants, a failed and a still-running run. Paired by
 * seed with joint (h, linear probe, points): bilevel K=1 +5, +4, +4 (better); bilevel K=5
 * +1, +2, +3 (no difference shown: 2 ± 4.303/√3); no_head -10, -9 (worse); fixed_head one seed.
 */
export const STUDY_RUNS: FixtureRun[] = [
  { id: "study-joint-s1", method: "joint", seed: 1, state: "finished", linearH: 0.8, layers: ALL },
  { id: "study-joint-s2", method: "joint", seed: 2, state: "finished", linearH: 0.82, layers: ALL },
  { id: "study-joint-s3", method: "joint", seed: 3, state: "finished", linearH: 0.84, layers: ALL },
  { id: "study-joint-s4", method: "joint", seed: 4, state: "failed" },
  { id: "study-bilevel-k1-s1", method: "bilevel", seed: 1, state: "finished", linearH: 0.85, layers: ALL, overrides: K1 },
  { id: "study-bilevel-k1-s2", method: "bilevel", seed: 2, state: "finished", linearH: 0.86, layers: ALL, overrides: K1 },
  { id: "study-bilevel-k1-s3", method: "bilevel", seed: 3, state: "finished", linearH: 0.88, layers: ALL, overrides: K1 },
  { id: "study-bilevel-k5-s1", method: "bilevel", seed: 1, state: "finished", linearH: 0.81, layers: ALL, overrides: K5 },
  { id: "study-bilevel-k5-s2", method: "bilevel", seed: 2, state: "finished", linearH: 0.84, layers: ALL, overrides: K5 },
  { id: "study-bilevel-k5-s3", method: "bilevel", seed: 3, state: "finished", linearH: 0.87, layers: ALL, overrides: K5, probeCapped: ["z"] },
  { id: "study-no_head-s1", method: "no_head", seed: 1, state: "finished", linearH: 0.7, ...HEADLESS },
  { id: "study-no_head-s2", method: "no_head", seed: 2, state: "finished", linearH: 0.73, ...HEADLESS },
  { id: "study-fixed_head-s1", method: "fixed_head", seed: 1, state: "finished", linearH: 0.78, layers: ["h", "head.1", "z"], evalInEvents: true },
  { id: "study-directclr-s1", method: "directclr", seed: 1, state: "running" },
];

/** Writes the study under root; returns the sweep directory. */
export async function writeStudy(root: string, runs: FixtureRun[] = STUDY_RUNS): Promise<string> {
  for (const r of runs) await writeRun(root, r);
  const sweepDir = join(root, "sweeps", "study");
  await mkdir(sweepDir, { recursive: true });
  const rec: SweepRecord = {
    name: "study",
    experimentFile: "examples/study.yaml",
    runsRoot: "runs",
    runIds: [...runs.map((r) => r.id), "study-directclr-s2"],
    createdAt: "2026-11-27T10:00:00Z",
  };
  await writeFile(join(sweepDir, "sweep.json"), JSON.stringify(rec, null, 2));
  return sweepDir;
}
