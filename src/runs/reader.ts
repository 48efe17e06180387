// The one reader of run folders: runs/<id>/{spec.json, summary.json, eval.json, events.jsonl}.
// Every file is read here, checked against the folder's format version (spec.json's
// formatVersion) and brought to the current shape by explicit upgrades, one per version step,
// so the rest of the package (the run store, the report, tracking) sees one typed shape and an
// old folder is never guessed at downstream.
//
// Format versions (RUN_FORMAT_VERSION is what this code writes):
//   1  no formatVersion in spec.json (runs created before it was recorded, e.g. docs/verdict/v1
//      and docs/verdict/pilot). Fields added over its life may be absent: eval.json's
//      formatVersion (absent = the fixed-L2 probe), protocol, baselines, untrainedLayers and
//      rankDefinition; the probe fields of a layer (probeConverged, probeL2, ...); summary.json's
//      compute accounting; the `started` event's initialKnnTop1.
//   2  spec.json says formatVersion 2. eval.json always has formatVersion, baselines and
//      untrainedLayers; summary.json always has the accounting (null when the run did not finish).
//      The `started` event's resolvedSpec is the worker's own config dict (snake_case, enums by
//      their labels: train.precision "fp32"), as formats 1 and 2 received it.
//   3  the `started` event's resolvedSpec is a RunSpec in proto3 JSON (specToJson: camelCase,
//      enums by name, zero values left out), the form of spec.json's `spec`; it is written by
//      eventJson below and read into the typed RunSpec with specFromJson.
// Upgrading 1 -> 2 makes each absence explicit: the value that means "unknown" (null, -1, an
// absent optional probe field that the report flags), or what the old reader inferred
// (untrainedLayers of a head-less method); 2 -> 3 turns the worker's dict into RunSpec JSON.
// A folder newer than RUN_FORMAT_VERSION is refused. A resume of an old folder appends events of
// the current form while spec.json keeps its version (RunDir.writeSpec), so every upgrade also
// takes what it produces (upgrading twice is upgrading once).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PRECISION_TO_PROTO, specFromJson, specToJson } from "../client/spec.js";
import { Precision } from "../client/types.js";
import { METHODS, type MethodName } from "../experiment/schema.js";
import type { EvalRecord, EventRecord, EventType, RunRecordSpec, RunSummary, StoredLayerEval } from "./types.js";

/** The run folder format this code writes (spec.json formatVersion). */
export const RUN_FORMAT_VERSION = 3;

export class RunFormatError extends Error {}

/** eval.json after the upgrades: every field present (formatVersion 1 = the fixed-L2 probe). */
export interface StoredEval extends Omit<EvalRecord, "formatVersion" | "layers" | "untrainedLayers" | "baselines"> {
  formatVersion: number;
  layers: StoredLayerEval[];
  untrainedLayers: string[];
  baselines: StoredLayerEval[];
}

type Accounting = "trainSeconds" | "imagesSeen" | "optimizerSteps" | "innerHeadSteps";
/** summary.json after the upgrades: the accounting present, null when unknown or unfinished. */
export type StoredSummary = Omit<RunSummary, Accounting> & { [K in Accounting]: number | null };

/** One run folder, upgraded to RUN_FORMAT_VERSION. formatVersion is the one found on disk. */
export interface RunFolder {
  formatVersion: number;
  spec: RunRecordSpec | null;
  summary: StoredSummary | null;
  eval: StoredEval | null;
  events: EventRecord[];
}

/**
 * Whether each of the schema's methods uses the head it is built with (fixed_head does, frozen;
 * no_head and directclr never do). A Record over the methods: one the contract adds fails tsc here
 * until it says.
 */
export const USES_HEAD: Readonly<Record<MethodName, boolean>> = { joint: true, bilevel: true, no_head: false, fixed_head: true, directclr: false };

/**
 * Runs written before eval.json listed `untrainedLayers` evaluated the never-trained heads of
 * these methods as if they were trained; the upgrade lists those layers as untrained all the same.
 */
export const HEADLESS_METHODS: ReadonlySet<string> = new Set(METHODS.filter((m) => !USES_HEAD[m]));

/** Every event type of the contract; a Record so that a case the contract adds fails tsc here. */
const EVENT_TYPES: Readonly<Record<EventType, true>> = {
  started: true, step: true, epoch: true, evaluation: true, checkpoint: true, log: true,
  finished: true, failed: true, cancelled: true, interrupted: true, dynamics: true,
};

type Json = Record<string, unknown>;

/** An event line as stored, before the upgrades and the typing (readRunFolder's `events`). */
export interface RawEvent {
  seq: number;
  time: number;
  type: EventType;
  data: Json;
}

function num(v: unknown): number | null {
  // uint64 fields arrive as strings in proto3 JSON.
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : null;
}

function obj(v: unknown): Json {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
}

/** Parsed JSON object, or null when the file is absent; a warning when it is unreadable. */
function readJsonFile(path: string, warnings: string[]): Json | null {
  if (!existsSync(path)) return null;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    warnings.push(`${path}: not readable (${(e as Error).message})`);
    return null;
  }
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Json;
    warnings.push(`${path}: expected a JSON object`);
  } catch (e) {
    warnings.push(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return null;
}

/** The format version of a folder from its spec.json (absent = 1); newer than this code: an error. */
export function formatVersionOf(spec: Json | null, path: string): number {
  if (!spec || spec.formatVersion === undefined) return 1;
  const v = spec.formatVersion;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new RunFormatError(`${path}: formatVersion: got ${JSON.stringify(v)}, expected a positive integer`);
  }
  if (v > RUN_FORMAT_VERSION) {
    throw new RunFormatError(`${path}: run folder format ${v} is newer than this projhead reads (${RUN_FORMAT_VERSION}); upgrade projhead`);
  }
  return v;
}

/**
 * The complete event lines of events.jsonl (a line torn by a kill has no newline and is
 * dropped; so is a half-written last line of a live run). A bad line before the end, or an event
 * type the contract does not have, is skipped with a warning.
 */
export function parseEventLines(text: string, path: string, warnings: string[] = []): RawEvent[] {
  const lines = text.split("\n");
  const out: RawEvent[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let ev: Json;
    try {
      ev = obj(JSON.parse(line));
    } catch {
      // The last line of a live run may be mid-write; anything else is worth a warning.
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim())) warnings.push(`${path}:${i + 1}: unparseable event line skipped`);
      return;
    }
    if (i === lines.length - 1 && !text.endsWith("\n")) return; // torn: no newline yet
    const type = ev.type;
    if (typeof type !== "string" || !(type in EVENT_TYPES)) {
      warnings.push(`${path}:${i + 1}: event type ${JSON.stringify(type)} is not one of the contract's; skipped`);
      return;
    }
    const seq = num(ev.seq);
    if (seq === null) {
      warnings.push(`${path}:${i + 1}: event without a seq; skipped`);
      return;
    }
    out.push({ seq, time: num(ev.time) ?? 0, type: type as EventType, data: obj(ev.data) });
  });
  return out;
}

/** A stored layer evaluation (eval.json or an `evaluation` event), every version. */
export function storedLayer(raw: unknown): StoredLayerEval | null {
  const d = obj(raw);
  const layer = typeof d.layer === "string" && d.layer !== "" ? d.layer : null;
  if (!layer) return null;
  const sv = Array.isArray(d.singularValues) ? d.singularValues.map(Number) : [];
  const optional: Record<string, number> = {};
  for (const k of ["probeIterations", "probeL2", "linearValTop1", "knnValTop1"] as const) {
    const v = num(d[k]);
    if (v !== null) optional[k] = v;
  }
  return {
    layer,
    index: num(d.index) ?? 0,
    dim: num(d.dim) ?? sv.length,
    linearTop1: num(d.linearTop1) ?? -1,
    knnTop1: num(d.knnTop1) ?? -1,
    effectiveRank: num(d.effectiveRank) ?? Number.NaN,
    singularValues: sv,
    alignment: num(d.alignment) ?? Number.NaN,
    uniformity: num(d.uniformity) ?? Number.NaN,
    // Absent = unknown (a run from before the converged probe): never read as converged.
    ...(typeof d.probeConverged === "boolean" ? { probeConverged: d.probeConverged } : {}),
    ...optional,
    ...(Array.isArray(d.probeValTop1) ? { probeValTop1: d.probeValTop1.map(Number) } : {}),
  };
}

const layers = (v: unknown): StoredLayerEval[] => (Array.isArray(v) ? v.map(storedLayer).filter((l): l is StoredLayerEval => l !== null) : []);

function methodOf(spec: Json | null, summary: Json | null): string {
  const s = summary?.method;
  if (typeof s === "string" && s) return s;
  const m = obj(obj(obj(spec).spec).method).name;
  return typeof m === "string" && m ? m : "unknown";
}

/** The head layers a version-1 eval.json of a head-less method scored though they were never trained. */
function inferredUntrained(method: string, seen: string[]): string[] {
  return HEADLESS_METHODS.has(method) ? [...new Set(seen.filter((l) => l !== "h"))] : [];
}

// ---- the upgrades, one per version step --------------------------------------------------------

interface RawFolder {
  /** The folder, for the errors of an upgrade. */
  dir: string;
  spec: Json | null;
  summary: Json | null;
  eval: Json | null;
  events: RawEvent[];
}

/** 1 -> 2: every field added during version 1 gets its explicit "unknown" (see the top). */
function upgrade1to2(f: RawFolder): RawFolder {
  const method = methodOf(f.spec, f.summary);
  let evalRec = f.eval;
  if (evalRec) {
    const seen = [
      ...layers(evalRec.layers).map((l) => l.layer),
      ...f.events
        .flatMap((e) => (e.type === "dynamics" && Array.isArray(e.data.layers) ? e.data.layers.map((l) => obj(l).layer) : []))
        .filter((l): l is string => typeof l === "string"),
    ];
    evalRec = {
      ...evalRec,
      formatVersion: num(evalRec.formatVersion) ?? 1,
      baselines: Array.isArray(evalRec.baselines) ? evalRec.baselines : [],
      untrainedLayers: Array.isArray(evalRec.untrainedLayers) ? evalRec.untrainedLayers : inferredUntrained(method, seen),
    };
  }
  let summary = f.summary;
  if (summary) {
    const optimizerSteps = num(summary.optimizerSteps);
    summary = {
      ...summary,
      trainSeconds: num(summary.trainSeconds),
      imagesSeen: num(summary.imagesSeen),
      optimizerSteps,
      // Inner head steps were recorded with the accounting: 0 for a method without them.
      innerHeadSteps: num(summary.innerHeadSteps) ?? (summary.optimizerSteps !== undefined ? 0 : null),
    };
  }
  const events = f.events.map((e) => {
    if (e.type === "started" && num(e.data.initialKnnTop1) === null) return { ...e, data: { ...e.data, initialKnnTop1: -1 } };
    if (e.type === "epoch" && num(e.data.knnTop1) === null) return { ...e, data: { ...e.data, knnTop1: -1 } };
    return e;
  });
  // spec.json keeps the version found on disk (RunFolder.formatVersion says it too), so a run
  // store that rewrites it (a resume) never stamps an old folder with a version its other files lack.
  return { ...f, summary, eval: evalRec, events };
}

/**
 * 2 -> 3: a `started` event's resolvedSpec from the worker's config dict to RunSpec JSON. The
 * generated parser takes the dict's proto field names as they are (the proto3 JSON mapping
 * accepts both spellings, field by field, so no list of fields is kept here); the one enum of
 * the format-2 contract, train.precision, arrives by its label and goes through the generated
 * label table. RunSpec JSON that a resume of this code appended passes through unchanged.
 */
function upgrade2to3(f: RawFolder): RawFolder {
  const events = f.events.map((e) => {
    if (e.type !== "started" || e.data.resolvedSpec === undefined) return e;
    const spec = obj(e.data.resolvedSpec);
    const train = obj(spec.train);
    const label = train.precision;
    const isLabel = typeof label === "string" && Object.hasOwn(PRECISION_TO_PROTO, label);
    const resolved = specFromJson(isLabel ? { ...spec, train: { ...train, precision: PRECISION_TO_PROTO[label as keyof typeof PRECISION_TO_PROTO] } } : spec);
    if (resolved.train?.precision === Precision.UNRECOGNIZED) {
      throw new RunFormatError(`${join(f.dir, "events.jsonl")}: event ${e.seq} (started): resolvedSpec.train.precision: got ${JSON.stringify(label)}, expected one of ${Object.keys(PRECISION_TO_PROTO).join(", ")}`);
    }
    return { ...e, data: { ...e.data, resolvedSpec: specToJson(resolved) } };
  });
  return { ...f, events };
}

const UPGRADES: Readonly<Record<number, (f: RawFolder) => RawFolder>> = { 1: upgrade1to2, 2: upgrade2to3 };

function upgraded(raw: RawFolder, from: number): RawFolder {
  let f = raw;
  for (let v = from; v < RUN_FORMAT_VERSION; v++) f = UPGRADES[v]!(f);
  return f;
}

/** The current-format eval of an upgraded folder's eval.json: layers and baselines typed. */
function typedEval(e: Json): StoredEval {
  return {
    ...(e as unknown as EvalRecord),
    formatVersion: num(e.formatVersion) ?? 1,
    runId: typeof e.runId === "string" ? e.runId : "",
    checkpoint: typeof e.checkpoint === "string" ? e.checkpoint : "",
    step: num(e.step) ?? 0,
    seconds: num(e.seconds) ?? 0,
    trainImages: num(e.trainImages) ?? 0,
    testImages: num(e.testImages) ?? 0,
    layers: layers(e.layers),
    untrainedLayers: Array.isArray(e.untrainedLayers) ? e.untrainedLayers.filter((l): l is string => typeof l === "string") : [],
    baselines: layers(e.baselines),
  };
}

/** A current-format event line as its typed record; eventJson is the way back. */
function typedEvent(e: RawEvent): EventRecord {
  if (e.type === "evaluation") return { ...e, data: storedLayer(e.data) ?? e.data } as EventRecord;
  if (e.type === "started" && e.data.resolvedSpec !== undefined) return { ...e, data: { ...e.data, resolvedSpec: specFromJson(e.data.resolvedSpec) } } as EventRecord;
  // The other events are stored as the generated records JSON.stringify writes (camelCase).
  return e as unknown as EventRecord;
}

/** The line an event record is stored as (RunDir.appendEvent): the started event's RunSpec as RunSpec JSON. */
export function eventJson(ev: EventRecord): Json {
  if (ev.type === "started" && ev.data.resolvedSpec) return { ...ev, data: { ...ev.data, resolvedSpec: specToJson(ev.data.resolvedSpec) } };
  return ev as unknown as Json;
}

function readEventsFile(path: string, warnings: string[]): RawEvent[] {
  if (!existsSync(path)) return [];
  try {
    return parseEventLines(readFileSync(path, "utf8"), path, warnings);
  } catch (e) {
    warnings.push(`${path}: not readable (${(e as Error).message})`);
    return [];
  }
}

function typedFolder(f: RawFolder, formatVersion: number): RunFolder {
  return {
    formatVersion,
    spec: f.spec as unknown as RunRecordSpec | null,
    summary: f.summary as unknown as StoredSummary | null,
    eval: f.eval && typedEval(f.eval),
    events: f.events.map(typedEvent),
  };
}

/** Reads and upgrades one run folder, tolerantly (a report of live and broken runs): what cannot
 *  be read is a warning. Null when none of its files is there. */
export function readRunFolder(dir: string, warnings: string[] = []): RunFolder | null {
  const specPath = join(dir, "spec.json");
  const spec = readJsonFile(specPath, warnings);
  const summary = readJsonFile(join(dir, "summary.json"), warnings);
  const evalRec = readJsonFile(join(dir, "eval.json"), warnings);
  const events = readEventsFile(join(dir, "events.jsonl"), warnings);
  if (!spec && !summary && !evalRec && !events.length) return null;
  const formatVersion = formatVersionOf(spec, specPath);
  return typedFolder(upgraded({ dir, spec, summary, eval: evalRec, events }, formatVersion), formatVersion);
}

/**
 * One file of a folder, upgraded exactly as readRunFolder would (the run store's reads, which
 * need one file and must not parse a long event log for it), strictly: a file that cannot be
 * read is an error naming it. Null when the file is absent.
 */
export function readFolderPart<K extends "spec" | "summary" | "eval" | "events">(dir: string, part: K): RunFolder[K] | null {
  const warnings: string[] = [];
  const specPath = join(dir, "spec.json");
  const spec = readJsonFile(specPath, warnings);
  const formatVersion = formatVersionOf(spec, specPath);
  const summary = part === "summary" || part === "eval" ? readJsonFile(join(dir, "summary.json"), part === "summary" ? warnings : []) : null;
  const evalRec = part === "eval" ? readJsonFile(join(dir, "eval.json"), warnings) : null;
  // A version-1 eval.json without untrainedLayers infers them from the layers its events saw too.
  const needEvents = part === "events" || (evalRec !== null && formatVersion < 2 && !Array.isArray(evalRec.untrainedLayers));
  const events = needEvents ? readEventsFile(join(dir, "events.jsonl"), part === "events" ? warnings : []) : [];
  if (warnings.length) throw new RunFormatError(warnings.join("\n"));
  const f = typedFolder(upgraded({ dir, spec, summary, eval: evalRec, events }, formatVersion), formatVersion);
  if (part === "events") return f.events as RunFolder[K];
  return (f[part] ?? null) as RunFolder[K] | null;
}
