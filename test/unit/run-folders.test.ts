// The run folder reader (src/runs/reader.ts): one committed folder of each format version, read
// through the same reader, the explicit upgrades of versions 1 and 2, and the refusals.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { RUN_FORMAT_VERSION, RunFormatError, readRunFolder } from "../../src/runs/reader.js";
import { RunDir } from "../../src/runs/store.js";
import type { RunRecordSpec } from "../../src/runs/types.js";
import { loadRun } from "../../src/report/load.js";
import { specFromJson, specToJson } from "../../src/client/spec.js";
import { Precision, type RunSpec } from "../../src/client/types.js";
import { PRECISION_VALUES } from "../../src/experiment/runSpec.gen.js";

const root = resolve(import.meta.dirname, "../..");
// Format 1: the first verdict study's runs (eval.json without formatVersion: the fixed-L2 probe)
// and the budget pilot (eval.json formatVersion 2, the folder still unversioned).
const V1_JOINT = join(root, "docs/verdict/v1/runs/verdict-finals-joint-seed1");
const V1_NO_HEAD = join(root, "docs/verdict/v1/runs/verdict-finals-others-seed1-no_head");
const V1_PILOT = join(root, "docs/verdict/pilot/runs/pilot-full");
// Format 2: a real run of this code (no_head, so untrainedLayers is listed by the worker).
const V2 = join(root, "test/fixtures/run-folders/v2/format-v2");
// Format 3: a real run of the same experiment (its name aside), started's resolvedSpec as RunSpec JSON.
const V3 = join(root, "test/fixtures/run-folders/v3/format-v3");

const raw = (dir: string, file: string) => JSON.parse(readFileSync(join(dir, file), "utf8")) as Record<string, unknown>;
const rawStarted = (dir: string) => JSON.parse(readFileSync(join(dir, "events.jsonl"), "utf8").split("\n")[0]!) as { data: { resolvedSpec: Record<string, unknown> } };
const startedSpec = (dir: string): RunSpec | undefined => {
  const started = readRunFolder(dir)!.events.find((e) => e.type === "started");
  assert.ok(started?.type === "started", `${dir}: a started event`);
  return started.data.resolvedSpec;
};

/**
 * Every leaf of the worker's config dict (formats 1 and 2) against the typed RunSpec, found by
 * its camelCase path, written here independently of the generated parser: a key the upgrade
 * dropped reads as the default and differs from a value the run set.
 */
function assertSameAsWorkerDict(spec: unknown, dict: Record<string, unknown>, path = ""): void {
  for (const [key, value] of Object.entries(dict)) {
    const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const typed = (spec as Record<string, unknown> | undefined)?.[camel];
    if (value && typeof value === "object" && !Array.isArray(value)) assertSameAsWorkerDict(typed, value as Record<string, unknown>, `${path}${key}.`);
    else if (path + key === "train.precision") assert.equal(typed, PRECISION_VALUES[value as keyof typeof PRECISION_VALUES], path + key);
    else assert.deepEqual(typed, value, path + key);
  }
}

describe("run folder format", () => {
  test("this code writes the current version, and the committed format-3 fixture is one", () => {
    assert.equal(RUN_FORMAT_VERSION, 3);
    assert.equal(raw(V3, "spec.json").formatVersion, 3);
    const f = readRunFolder(V3)!;
    assert.equal(f.formatVersion, 3);
    assert.equal(f.eval!.formatVersion, 2);
    assert.deepEqual(f.eval!.untrainedLayers, ["head.1", "z"]);
    assert.equal(f.summary!.state, "finished");
    assert.deepEqual(f.events.map((e) => e.seq), f.events.map((_, i) => i + 1));
    // On disk the resolved spec has spec.json's form; read, it is the typed RunSpec.
    const stored = rawStarted(V3).data.resolvedSpec;
    assert.deepEqual(stored, raw(V3, "spec.json").spec);
    assert.equal((stored.train as Record<string, unknown>).precision, "PRECISION_FP32");
    assert.deepEqual(startedSpec(V3), specFromJson(stored));
  });

  test("format 2 reads through the upgrade to the same typed started spec as format 3", () => {
    // The two fixtures ran the same experiment; only the run's id and name differ.
    const anonymous = (s: RunSpec | undefined) => ({ ...s!, runId: "", name: "" });
    assert.deepEqual(anonymous(startedSpec(V2)), anonymous(startedSpec(V3)));
    assert.deepEqual(specToJson(anonymous(startedSpec(V2))), specToJson(anonymous(specFromJson(rawStarted(V3).data.resolvedSpec))));
  });

  test("the store writes what it reads: rewriting a format-3 log keeps every line, started's byte for byte", () => {
    const dir = mkdtempSync(join(tmpdir(), "projhead-folders-"));
    const lines = (d: string) => readFileSync(join(d, "events.jsonl"), "utf8").trimEnd().split("\n");
    try {
      cpSync(V3, dir, { recursive: true });
      new RunDir(dir).truncateAfter(Number.MAX_SAFE_INTEGER);
      assert.equal(lines(dir)[0], lines(V3)[0]);
      // (the reader orders an evaluation's fields its own way: the same JSON, not the same bytes)
      assert.deepEqual(lines(dir).map((l) => JSON.parse(l) as unknown), lines(V3).map((l) => JSON.parse(l) as unknown));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the committed format-2 fixture reads as written", () => {
    assert.equal(raw(V2, "spec.json").formatVersion, 2);
    const f = readRunFolder(V2)!;
    assert.equal(f.formatVersion, 2);
    assert.equal(f.eval!.formatVersion, 2);
    assert.deepEqual(f.eval!.untrainedLayers, ["head.1", "z"]);
    assert.deepEqual(f.eval!.baselines.map((b) => b.layer), ["pixels", "h@init"]);
    assert.equal(typeof f.eval!.layers[0]!.probeConverged, "boolean");
    assert.equal(f.summary!.state, "finished");
    assert.ok(f.summary!.optimizerSteps! > 0 && f.summary!.innerHeadSteps === 0);
    assert.deepEqual(f.events.map((e) => e.seq), f.events.map((_, i) => i + 1));
  });

  test("format 2 -> 3: the started event's config dict becomes the RunSpec, every field of it", () => {
    const dict = rawStarted(V2).data.resolvedSpec;
    assert.equal((dict.train as Record<string, unknown>).precision, "fp32", "format 2 holds the worker's labels");
    const spec = startedSpec(V2)!;
    assertSameAsWorkerDict(spec, dict);
    assert.equal(spec.train!.precision, Precision.PRECISION_FP32);
    assert.deepEqual(spec.model!.head!.hiddenDims, [32]);
    // The client sent every field, so what the worker resolved is exactly spec.json's spec.
    assert.deepEqual(spec, specFromJson(raw(V2, "spec.json").spec));
  });

  test("format 1 -> 3: the first study's resolved specs, through both upgrades", () => {
    for (const dir of [V1_JOINT, V1_NO_HEAD, V1_PILOT]) assertSameAsWorkerDict(startedSpec(dir), rawStarted(dir).data.resolvedSpec);
    assert.deepEqual(startedSpec(V1_JOINT)!.model!.head!.hiddenDims, (rawStarted(V1_JOINT).data.resolvedSpec as { model: { head: { hidden_dims: number[] } } }).model.head.hidden_dims);
  });

  test("format 1, fixed-L2 probe: the upgrade says so, lists no baselines and keeps convergence unknown", () => {
    assert.equal(raw(V1_JOINT, "spec.json").formatVersion, undefined);
    assert.equal(raw(V1_JOINT, "eval.json").formatVersion, undefined);
    const f = readRunFolder(V1_JOINT)!;
    assert.equal(f.formatVersion, 1);
    assert.equal(f.eval!.formatVersion, 1);
    assert.deepEqual(f.eval!.baselines, []);
    assert.deepEqual(f.eval!.untrainedLayers, []);
    // Not a false "converged" and not a false "not converged": absent, which the report flags.
    assert.ok(f.eval!.layers.every((l) => l.probeConverged === undefined));
    // Its summary predates the compute accounting: explicit nulls, not absent fields.
    assert.deepEqual([f.summary!.trainSeconds, f.summary!.optimizerSteps, f.summary!.innerHeadSteps], [null, null, null]);
  });

  test("format 1, a head-less method: the never-trained head is listed as untrained by the upgrade", () => {
    assert.equal(raw(V1_NO_HEAD, "eval.json").untrainedLayers, undefined);
    const f = readRunFolder(V1_NO_HEAD)!;
    assert.deepEqual([...f.eval!.untrainedLayers].sort(), ["head.1", "head.2", "z"]);
  });

  test("format 1 with an eval.json of format 2: its protocol and convergence are read as written", () => {
    const f = readRunFolder(V1_PILOT)!;
    assert.equal(f.formatVersion, 1);
    assert.equal(f.eval!.formatVersion, 2);
    assert.ok(f.eval!.protocol && f.eval!.protocol.probeL2Grid.length > 0);
    assert.equal(f.eval!.rankDefinition, "rankme");
    assert.ok(f.eval!.layers.every((l) => typeof l.probeConverged === "boolean" && typeof l.probeL2 === "number"));
    assert.deepEqual(f.eval!.baselines, []); // the pilot ran without floors
  });

  test("the report and the run store read every version through the same reader", async () => {
    for (const dir of [V1_JOINT, V1_NO_HEAD, V1_PILOT, V2, V3]) {
      const run = (await loadRun(dir))!;
      const f = readRunFolder(dir)!;
      assert.deepEqual(run.untrainedLayers, [...f.eval!.untrainedLayers].sort());
      assert.equal(run.eval!.formatVersion, f.eval!.formatVersion);
      assert.deepEqual(new RunDir(dir).readEval(), f.eval);
      assert.deepEqual(new RunDir(dir).readSummary(), f.summary);
      assert.deepEqual(new RunDir(dir).readEvents(), f.events);
    }
  });
});

describe("run folder refusals and rewrites", () => {
  const tmp = () => mkdtempSync(join(tmpdir(), "projhead-folders-"));
  /** Runs `fn` on a scratch copy of the fixture folder `src`, removed afterwards. */
  async function onCopyOf(src: string, fn: (dir: string) => void | Promise<void>): Promise<void> {
    const dir = tmp();
    try {
      cpSync(src, dir, { recursive: true });
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test("a folder newer than this code is refused, naming the file and both versions", () => onCopyOf(V3, async (dir) => {
    const spec = raw(dir, "spec.json");
    writeFileSync(join(dir, "spec.json"), JSON.stringify({ ...spec, formatVersion: 4 }));
    assert.throws(() => readRunFolder(dir), (e: Error) => e instanceof RunFormatError && e.message === `${join(dir, "spec.json")}: run folder format 4 is newer than this projhead reads (3); upgrade projhead`);
    assert.throws(() => new RunDir(dir).readEvents(), RunFormatError);
    const warnings: string[] = [];
    assert.equal(await loadRun(dir, warnings), null);
    assert.match(warnings.join("\n"), /run folder format 4 is newer/);
    writeFileSync(join(dir, "spec.json"), JSON.stringify({ ...spec, formatVersion: "3" }));
    assert.throws(() => readRunFolder(dir), /spec\.json: formatVersion: got "3", expected a positive integer/);
  }));

  test("a resumed format-2 folder gets events of the current form and still reads the same", () => onCopyOf(V2, (dir) => {
    // A resume cuts the log through the store, which writes every event back in the current
    // form; spec.json keeps formatVersion 2, so the upgrade meets its own output.
    new RunDir(dir).truncateAfter(Number.MAX_SAFE_INTEGER);
    assert.equal(raw(dir, "spec.json").formatVersion, 2);
    assert.equal((rawStarted(dir).data.resolvedSpec.train as Record<string, unknown>).precision, "PRECISION_FP32");
    assert.deepEqual(readRunFolder(dir)!.events, readRunFolder(V2)!.events);
    assert.deepEqual(new RunDir(dir).readEvents(), new RunDir(V2).readEvents());
  }));

  test("a format-2 resolved spec whose precision is no label is refused, naming the file, event and field", () => onCopyOf(V2, async (dir) => {
    const events = join(dir, "events.jsonl");
    writeFileSync(events, readFileSync(events, "utf8").replace('"precision":"fp32"', '"precision":"fp16"'));
    assert.throws(() => new RunDir(dir).readEvents(), (e: Error) => e instanceof RunFormatError
      && e.message === `${events}: event 1 (started): resolvedSpec.train.precision: got "fp16", expected one of auto, fp32, bf16`);
    const warnings: string[] = [];
    assert.equal(await loadRun(dir, warnings), null); // the report: a warning, the run left out
    assert.match(warnings.join("\n"), /resolvedSpec\.train\.precision: got "fp16"/);
  }));

  test("the store's reads are strict: a corrupt event line names the file; a torn last line is dropped", () => onCopyOf(V2, (dir) => {
    const events = join(dir, "events.jsonl");
    const text = readFileSync(events, "utf8");
    writeFileSync(events, text + '{"seq": 12, "ty');
    assert.equal(new RunDir(dir).readEvents().length, 11);
    const lines = text.trimEnd().split("\n");
    lines[3] = "{not json";
    writeFileSync(events, lines.join("\n") + "\n");
    assert.throws(() => new RunDir(dir).readEvents(), (e: Error) => e instanceof RunFormatError && e.message.includes(`${events}:4: unparseable event line`));
    const warnings: string[] = [];
    assert.equal(readRunFolder(dir, warnings)!.events.length, 10); // the report: a warning, the rest
    assert.equal(warnings.length, 1);
  }));

  test("a new folder is stamped with the current version; a rewritten old one keeps its own", () => {
    const dir = tmp();
    try {
      const fresh = new RunDir(join(dir, "fresh"));
      const { formatVersion: _, ...unversioned } = raw(V3, "spec.json");
      fresh.writeSpec(unversioned as unknown as RunRecordSpec);
      assert.equal(raw(fresh.dir, "spec.json").formatVersion, RUN_FORMAT_VERSION);
      const old = join(dir, "old");
      cpSync(V1_NO_HEAD, old, { recursive: true });
      const store = new RunDir(old);
      store.writeSpec({ ...store.readSpec(), headOptimizer: { name: "sgd", lr: 1, momentum: 0, nesterov: false, weightDecay: 0 } });
      assert.equal(raw(old, "spec.json").formatVersion, undefined);
      assert.deepEqual([...readRunFolder(old)!.eval!.untrainedLayers].sort(), ["head.1", "head.2", "z"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
