// The run folder reader (src/runs/reader.ts): one committed folder of each format version, read
// through the same reader, the explicit upgrade of version 1, and the refusals.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { RUN_FORMAT_VERSION, RunFormatError, readRunFolder } from "../../src/runs/reader.js";
import { RunDir } from "../../src/runs/store.js";
import type { RunRecordSpec } from "../../src/runs/types.js";
import { loadRun } from "../../src/report/load.js";

const root = resolve(import.meta.dirname, "../..");
// Format 1: the first verdict study's runs (eval.json without formatVersion: the fixed-L2 probe)
// and the budget pilot (eval.json formatVersion 2, the folder still unversioned).
const V1_JOINT = join(root, "docs/verdict/v1/runs/verdict-finals-joint-seed1");
const V1_NO_HEAD = join(root, "docs/verdict/v1/runs/verdict-finals-others-seed1-no_head");
const V1_PILOT = join(root, "docs/verdict/pilot/runs/pilot-full");
// Format 2: a real run of this code (no_head, so untrainedLayers is listed by the worker).
const V2 = join(root, "test/fixtures/run-folders/v2/format-v2");

const raw = (dir: string, file: string) => JSON.parse(readFileSync(join(dir, file), "utf8")) as Record<string, unknown>;

describe("run folder format", () => {
  test("this code writes the current version, and the committed format-2 fixture is one", () => {
    assert.equal(RUN_FORMAT_VERSION, 2);
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
    for (const dir of [V1_JOINT, V1_NO_HEAD, V1_PILOT, V2]) {
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

  test("a folder newer than this code is refused, naming the file and both versions", async () => {
    const dir = tmp();
    try {
      cpSync(V2, dir, { recursive: true });
      const spec = raw(dir, "spec.json");
      writeFileSync(join(dir, "spec.json"), JSON.stringify({ ...spec, formatVersion: 3 }));
      assert.throws(() => readRunFolder(dir), (e: Error) => e instanceof RunFormatError && e.message === `${join(dir, "spec.json")}: run folder format 3 is newer than this projhead reads (2); upgrade projhead`);
      assert.throws(() => new RunDir(dir).readEvents(), RunFormatError);
      const warnings: string[] = [];
      assert.equal(await loadRun(dir, warnings), null);
      assert.match(warnings.join("\n"), /run folder format 3 is newer/);
      writeFileSync(join(dir, "spec.json"), JSON.stringify({ ...spec, formatVersion: "2" }));
      assert.throws(() => readRunFolder(dir), /spec\.json: formatVersion: got "2", expected a positive integer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the store's reads are strict: a corrupt event line names the file; a torn last line is dropped", () => {
    const dir = tmp();
    try {
      cpSync(V2, dir, { recursive: true });
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
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a new folder is stamped with the current version; a rewritten old one keeps its own", () => {
    const dir = tmp();
    try {
      const fresh = new RunDir(join(dir, "fresh"));
      const { formatVersion: _, ...unversioned } = raw(V2, "spec.json");
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
