// Read run directories and sweep directories into a ReportData model.
// Tolerant by design: a run that is still running or failed has no summary.json / eval.json,
// and its events.jsonl may end in a half-written line; it must still show in the report.
import { readFile, readdir, stat } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import { HEADLESS_METHODS, RunFormatError, USES_HEAD, readRunFolder, type RunFolder } from "../runs/reader.js";
import { compareLayers } from "./aggregate.js";
import type { EventRecord, RunRecordSpec, RunStateName, RunSummary, SweepRecord } from "../runs/types.js";
import type {
  DynamicsLayer,
  DynamicsPoint,
  EpochPoint,
  LayerEval,
  ReportData,
  RunData,
  RunEval,
  StepPoint,
  SweepData,
} from "./model.js";

/** Loss curves longer than this are bucket-averaged: a 100k-step run would bloat the HTML. */
export const MAX_CURVE_POINTS = 2000;

type Json = Record<string, unknown>;

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null)) !== null;
}

/** Parsed JSON object, or null when the file is absent; a warning when it is unreadable. */
async function readJson<T>(path: string, warnings: string[]): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return null;
  }
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === "object" ? (v as T) : null;
  } catch (e) {
    warnings.push(`${path}: not valid JSON (${(e as Error).message})`);
    return null;
  }
}

function num(v: unknown): number | null {
  // uint64 fields arrive as strings in proto3 JSON.
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : null;
}

function str(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

function obj(v: unknown): Json {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
}

/** Average consecutive buckets so the curve keeps its shape with at most `max` points. */
export function downsample(points: StepPoint[], max = MAX_CURVE_POINTS): StepPoint[] {
  if (points.length <= max) return points;
  const size = points.length / max;
  const out: StepPoint[] = [];
  for (let b = 0; b < max; b++) {
    const chunk = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (!chunk.length) continue;
    const loss = chunk.reduce((s, p) => s + p.loss, 0) / chunk.length;
    out.push({ step: chunk[chunk.length - 1]!.step, loss });
  }
  return out;
}

/** Fields of a spec that name the run rather than configure it: never a group difference. */
const RUN_NAME_FIELDS = new Set(["runId", "name", "seed", "data.root"]);

function isZero(v: unknown): boolean {
  return v === 0 || v === "" || v === false || v === null || (Array.isArray(v) && v.length === 0);
}

/** spec.json's spec as dotted paths (arrays are values), without names and zero values. */
export function flattenSpec(spec: Json, prefix = "", out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(spec)) {
    const path = prefix + k;
    if (RUN_NAME_FIELDS.has(path)) continue;
    if (v && typeof v === "object" && !Array.isArray(v)) flattenSpec(v as Json, path + ".", out);
    else if (!isZero(v)) out[path] = v;
  }
  return out;
}

function codeRevisionOf(v: unknown): RunData["codeRevision"] {
  const r = obj(v);
  const commit = str(r.commit);
  return commit ? { commit, dirty: r.dirty === true } : null;
}

function dynamicsFromData(d: Json): DynamicsPoint | null {
  const epoch = num(d.epoch);
  if (epoch === null || !Array.isArray(d.layers)) return null;
  const layers: DynamicsLayer[] = [];
  for (const raw of d.layers) {
    const l = obj(raw);
    const layer = str(l.layer);
    if (!layer) continue;
    const knn = num(l.knnTop1);
    layers.push({
      layer,
      index: num(l.index) ?? 0,
      dim: num(l.dim) ?? 0,
      knnTop1: knn !== null && knn >= 0 ? knn : null,
      effectiveRank: num(l.effectiveRank),
      alignment: num(l.alignment),
      uniformity: num(l.uniformity),
    });
  }
  return { epoch, step: num(d.step) ?? 0, seconds: num(d.seconds) ?? 0, subsetSize: num(d.subsetSize) ?? 0, layers };
}

/** Which methods use their head, and those that never do: the reader's (src/runs/reader.ts). */
export { HEADLESS_METHODS, USES_HEAD };

function stateFromEvents(events: EventRecord[]): RunStateName | "unknown" {
  for (let i = events.length - 1; i >= 0; i--) {
    const t = events[i]!.type;
    if (t === "finished" || t === "failed" || t === "cancelled" || t === "interrupted") return t;
  }
  return events.length ? "running" : "unknown";
}

/** Read one run directory (through the run folder reader, upgraded to the current format).
 *  Never throws for missing or unreadable files (warnings); returns null if nothing is there. */
export async function loadRun(dir: string, warnings: string[] = []): Promise<RunData | null> {
  let folder: RunFolder | null;
  try {
    folder = readRunFolder(dir, warnings);
  } catch (e) {
    if (!(e instanceof RunFormatError)) throw e;
    warnings.push(e.message);
    return null;
  }
  if (!folder) return null;
  const { spec, summary, eval: evalRec, events } = folder;

  const rs = obj(spec?.spec);
  const steps: StepPoint[] = [];
  const epochs: EpochPoint[] = [];
  const evalEvents = new Map<string, LayerEval>();
  const dynamics = new Map<number, DynamicsPoint>();
  let initialKnn: number | null = null;
  let failMsg: string | undefined;
  for (const ev of events) {
    if (ev.type === "started") {
      const init = num(ev.data.initialKnnTop1);
      if (init !== null && init >= 0) initialKnn = init;
    } else if (ev.type === "dynamics") {
      const p = dynamicsFromData(obj(ev.data));
      if (p) dynamics.set(p.epoch, p); // a resumed run measures an epoch again: the newest wins
    } else if (ev.type === "step") {
      const step = num(ev.data.step);
      const loss = num(ev.data.loss);
      if (step !== null && loss !== null) steps.push({ step, loss });
    } else if (ev.type === "epoch") {
      const epoch = num(ev.data.epoch);
      const knn = num(ev.data.knnTop1);
      if (epoch !== null) {
        epochs.push({ epoch, step: num(ev.data.step) ?? 0, loss: num(ev.data.loss) ?? Number.NaN, knnTop1: knn !== null && knn >= 0 ? knn : null });
      }
    } else if (ev.type === "evaluation") {
      evalEvents.set(ev.data.layer, ev.data); // the newest evaluation of a layer wins
    } else if (ev.type === "failed") {
      failMsg = [str(ev.data.cause), str(ev.data.message)].filter(Boolean).join(": ") || "failed";
    }
  }

  const method = str(summary?.method) ?? str(obj(rs.method).name) ?? "unknown";
  let evalLayers: LayerEval[] | null = null;
  let evalSource: RunData["evalSource"] = null;
  if (evalRec) {
    evalLayers = evalRec.layers;
    evalSource = "eval.json";
  } else if (evalEvents.size) {
    evalLayers = [...evalEvents.values()];
    evalSource = "events";
  }
  const seenLayers = [
    ...(evalLayers ?? []).map((l) => l.layer),
    ...[...dynamics.values()].flatMap((p) => p.layers.map((l) => l.layer)),
  ];
  // eval.json says which layers were never trained (the reader infers it for old folders); a run
  // evaluated only through its events has the same rule.
  const untrained = evalRec ? [...evalRec.untrainedLayers].sort(compareLayers)
    : HEADLESS_METHODS.has(method) ? [...new Set(seenLayers.filter((l) => l !== "h"))].sort(compareLayers) : [];
  const trained = (layer: string) => !untrained.includes(layer);
  let evalData: RunEval | null = null;
  if (evalLayers) {
    evalData = {
      runId: evalRec?.runId ?? "",
      checkpoint: evalRec?.checkpoint ?? "",
      step: evalRec?.step ?? steps.at(-1)?.step ?? 0,
      seconds: evalRec?.seconds ?? 0,
      trainImages: evalRec?.trainImages ?? 0,
      testImages: evalRec?.testImages ?? 0,
      layers: evalLayers.filter((l) => trained(l.layer)),
      untrainedLayers: untrained,
      baselines: evalRec?.baselines ?? [],
      ...(evalRec ? { formatVersion: evalRec.formatVersion } : {}),
      ...(evalRec?.protocol && typeof evalRec.protocol === "object" ? { protocol: evalRec.protocol } : {}),
      ...(evalRec?.rankDefinition === "rankme" ? { rankDefinition: "rankme" as const } : {}),
    };
  }
  const dynamicsCurve = [...dynamics.values()]
    .sort((a, b) => a.epoch - b.epoch)
    .map((p) => ({ ...p, layers: p.layers.filter((l) => trained(l.layer)) }));

  const lastKnn = [...epochs].reverse().find((e) => e.knnTop1 !== null)?.knnTop1 ?? null;
  const runId = str(summary?.runId) ?? str(spec?.runId) ?? str(rs.runId) ?? basename(dir);
  const seed = num(summary?.seed) ?? num(rs.seed);
  const summaryKnn = num(summary?.knnTop1);
  const summaryInit = num(summary?.initialKnnTop1);
  const model = obj(rs.model);
  const error = str(summary?.error) ?? failMsg;
  return {
    runId,
    dir: resolve(dir),
    name: str(summary?.name) ?? str(rs.name) ?? runId,
    experiment: str(summary?.experiment) ?? str(spec?.experiment) ?? "",
    method,
    dataset: str(summary?.dataset) ?? str(obj(rs.data).name) ?? "",
    backbone: str(summary?.backbone) ?? str(model.backbone) ?? "",
    seed,
    state: (str(summary?.state) as RunStateName | null) ?? stateFromEvents(events),
    overrides: obj(summary?.overrides ?? spec?.overrides),
    settings: spec?.spec ? flattenSpec(rs) : null,
    codeRevision: codeRevisionOf(spec?.codeRevision),
    epochs: num(summary?.epochs) ?? epochs.at(-1)?.epoch ?? 0,
    steps: num(summary?.steps) ?? steps.at(-1)?.step ?? epochs.at(-1)?.step ?? 0,
    finalLoss: num(summary?.finalLoss) ?? steps.at(-1)?.loss ?? epochs.at(-1)?.loss ?? null,
    knnTop1: summaryKnn !== null && summaryKnn >= 0 ? summaryKnn : lastKnn,
    initialKnnTop1: summaryInit !== null && summaryInit >= 0 ? summaryInit : initialKnn,
    wallSeconds: num(summary?.wallSeconds),
    trainSeconds: summary?.trainSeconds ?? null,
    imagesSeen: summary?.imagesSeen ?? null,
    optimizerSteps: summary?.optimizerSteps ?? null,
    innerHeadSteps: summary?.innerHeadSteps ?? null,
    untrainedLayers: untrained,
    ...(error ? { error } : {}),
    stepCurve: downsample(steps),
    epochCurve: epochs,
    dynamics: dynamicsCurve,
    eval: evalData,
    evalSource,
  };
}

/** sweep.json's runsRoot may be absolute, relative to the cwd that created it, or to the sweep. */
async function findRunsRoot(sweepDir: string, rec: SweepRecord): Promise<string[]> {
  const root = rec.runsRoot ?? "";
  const cands = isAbsolute(root)
    ? [root]
    : [resolve(root), resolve(sweepDir, root), resolve(sweepDir, "..", "..", root)];
  cands.push(join(sweepDir, "runs"), resolve(sweepDir, "..", "..", "runs"));
  const out: string[] = [];
  for (const c of cands) if (!out.includes(c) && (await isDir(c))) out.push(c);
  return out;
}

async function loadSweep(dir: string, warnings: string[]): Promise<[SweepData, string[]] | null> {
  const rec = await readJson<SweepRecord>(join(dir, "sweep.json"), warnings);
  if (!rec) return null;
  const roots = await findRunsRoot(dir, rec);
  const runDirs: string[] = [];
  const missing: string[] = [];
  for (const id of rec.runIds ?? []) {
    let found: string | null = null;
    for (const r of roots) {
      if (await isDir(join(r, id))) {
        found = join(r, id);
        break;
      }
    }
    if (found) runDirs.push(found);
    else missing.push(id);
  }
  if (missing.length) {
    warnings.push(`sweep ${rec.name}: ${missing.length} run(s) not found on disk: ${missing.join(", ")}`);
  }
  const sweep: SweepData = {
    name: rec.name ?? basename(dir),
    dir: resolve(dir),
    experimentFile: rec.experimentFile ?? "",
    createdAt: rec.createdAt ?? "",
    runIds: rec.runIds ?? [],
    missingRunIds: missing,
    baseline: str(obj(rec).baseline),
  };
  return [sweep, runDirs];
}

async function isRunDir(dir: string): Promise<boolean> {
  for (const f of ["spec.json", "events.jsonl", "summary.json", "eval.json"]) {
    if (await exists(join(dir, f))) return true;
  }
  return false;
}

/**
 * Load every run named by `paths`: run directories, sweep directories (sweep.json), or a
 * directory of either (e.g. the runs root). Duplicates are loaded once.
 */
export async function loadReportData(paths: string[], now = new Date()): Promise<ReportData> {
  const warnings: string[] = [];
  const sweeps: SweepData[] = [];
  const runDirs: string[] = [];

  const visit = async (p: string, depth: number): Promise<void> => {
    if (!(await isDir(p))) {
      warnings.push(`${p}: not a directory`);
      return;
    }
    if (await exists(join(p, "sweep.json"))) {
      const s = await loadSweep(p, warnings);
      if (s) {
        sweeps.push(s[0]);
        runDirs.push(...s[1]);
      }
      return;
    }
    if (await isRunDir(p)) {
      runDirs.push(p);
      return;
    }
    if (depth > 0) return;
    // A container of runs or sweeps: one level down, in name order for a stable report.
    const entries = (await readdir(p, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => e.name)
      .sort();
    const before = runDirs.length + sweeps.length;
    for (const e of entries) await visit(join(p, e), depth + 1);
    if (runDirs.length + sweeps.length === before) warnings.push(`${p}: no runs or sweeps found`);
  };
  for (const p of paths) await visit(resolve(p), 0);

  const seen = new Set<string>();
  const runs: RunData[] = [];
  for (const d of runDirs) {
    const abs = resolve(d);
    if (seen.has(abs)) continue;
    seen.add(abs);
    const run = await loadRun(abs, warnings);
    if (run) runs.push(run);
  }
  return { generatedAt: now.toISOString(), runs, sweeps, warnings };
}
