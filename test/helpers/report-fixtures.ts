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
  /** Settings of the resolved spec beyond the overrides (dotted paths): another base file. */
  spec?: Record<string, unknown>;
  /** spec.json's codeRevision (default FIXTURE_REVISION); null: none recorded (an older run). */
  codeRevision?: { commit: string; dirty: boolean } | null;
  /** An eval.json from before the validation-selected probe: no probeConverged, protocol,
   *  baselines, validation metrics or rankDefinition. */
  oldEval?: boolean;
}

export const FIXTURE_REVISION = { commit: "0123456789abcdef0123456789abcdef01234567", dirty: false };

/** The fixture's probe protocol (eval.json formatVersion 2). */
export const FIXTURE_PROTOCOL = {
  probeL2Grid: [1e-5, 1e-4, 1e-3],
  valFraction: 0.1,
  valImages: 51,
  splitSeed: 0,
  knnK: 200,
  knnTemperature: 0.1,
  probeMaxIter: 1000,
};

/** The floors of every fixture run: raw pixels (the same for every seed) and h at random init. */
export const pixelsFloor = { linearTop1: 0.78, knnTop1: 0.72 };
export const initFloor = (seed: number) => ({ linearTop1: 0.5 + 0.01 * seed, knnTop1: 0.3 });

/** Validation top-1 of a layer: its test value + 1 point (the selection split reads a little higher). */
export const valOf = (test: number) => test + 0.01;

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

function probeFields(linearTop1: number, knnTop1: number) {
  const val = valOf(linearTop1);
  return { probeL2: 1e-4, probeValTop1: [val - 0.02, val, val - 0.01], linearValTop1: val, knnValTop1: valOf(knnTop1) };
}

function floorRecord(layer: string, index: number, v: { linearTop1: number; knnTop1: number }): LayerEvalRecord {
  const dim = layer === "pixels" ? 1024 : 64;
  return {
    layer, index, dim, ...v, ...probeFields(v.linearTop1, v.knnTop1),
    probeConverged: true, probeIterations: 80, effectiveRank: 20, singularValues: [], alignment: 0.5, uniformity: -2,
  };
}

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
    ...probeFields(base - drop, base - drop - 0.05),
  };
}

/** Sets a dotted path in a nested object. */
function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const keys = path.split(".");
  let cur = o;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
  cur[keys.at(-1)!] = v;
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
  // The resolved spec carries the overrides, as the real one does.
  for (const [k, v] of Object.entries({ ...run.overrides, ...run.spec })) setPath(spec, k, v);
  const revision = run.codeRevision === undefined ? FIXTURE_REVISION : run.codeRevision;
  await writeFile(
    join(dir, "spec.json"),
    JSON.stringify({
      runId: run.id, experiment: "study", spec, overrides, createdAt: "2026-11-27T10:00:00Z",
      ...(revision ? { codeRevision: revision } : {}),
    }),
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
    const newer = {
      formatVersion: 2,
      protocol: FIXTURE_PROTOCOL,
      rankDefinition: "rankme",
      baselines: [floorRecord("pixels", -1, pixelsFloor), floorRecord("h@init", 0, initFloor(run.seed))],
    };
    const old = (l: Record<string, unknown>) => {
      const { probeConverged: _c, probeIterations: _i, probeL2: _l, probeValTop1: _p, linearValTop1: _v, knnValTop1: _k, ...rest } = l;
      return rest;
    };
    const rec = {
      ...(run.oldEval ? {} : newer),
      runId: run.id,
      checkpoint: "checkpoints/final.pt",
      step: 50,
      seconds: 12,
      trainImages: 512,
      testImages: 256,
      layers: [...layers].reverse().map((l) => {
        const capped = run.probeCapped?.includes(l.layer) ?? false;
        const probed = { ...l, probeConverged: !capped, probeIterations: capped ? 1000 : 40 + l.index };
        return run.oldEval ? old(probed) : probed;
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
 * +1, +2, +3 (no difference shown: 2 ± 4.303/√3); no_head -10, -9 (worse by its interval, not
 * after Holm over the exploratory cells); fixed_head one seed.
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
