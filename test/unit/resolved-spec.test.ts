// The `started` event's resolved spec, a RunSpec message from the worker to every reader: the
// record keeps the generated RunSpec, the run folder stores it as RunSpec JSON (spec.json's
// form) and reads it back unchanged, TensorBoard shows that JSON and MLflow gets every field
// under the experiment file's names.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { RunEvent, RunStarted } from "../../src/gen/projhead/v1/worker.js";
import { toEventRecord } from "../../src/client/events.js";
import { specToJson, toRunSpec } from "../../src/client/spec.js";
import { Precision } from "../../src/client/types.js";
import { resolveExperiment } from "../../src/experiment/index.js";
import { RunDir } from "../../src/runs/store.js";
import { specParams } from "../../src/tracking/mlflowRun.js";
import { tbEventOf } from "../../src/tracking/tbScalars.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-resolved-spec-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const spec = toRunSpec(resolveExperiment({ name: "rs", model: { head: { hiddenDims: [64, 32] } }, train: { precision: "bf16", epochs: 3 } }), "rs-1");
// As the worker sends it: the message on the wire, decoded by the generated code.
const wire = RunEvent.decode(RunEvent.encode(RunEvent.fromPartial({
  seq: 1, time: 1.5, kind: { $case: "started", value: RunStarted.fromPartial({ resolvedSpec: spec, device: "cpu", totalSteps: 12 }) },
})).finish());
const record = toEventRecord(wire);

describe("the resolved spec of a started event", () => {
  it("is the RunSpec the worker sent, as the generated type", () => {
    assert.ok(record.type === "started");
    assert.deepEqual(record.data.resolvedSpec, spec);
    assert.equal(record.data.resolvedSpec?.train?.precision, Precision.PRECISION_BF16);
  });

  it("is stored as RunSpec JSON and read back as the same record", () => {
    const dir = new RunDir(join(tmp, "rs-1"));
    assert.ok(dir.appendEvent(record));
    const line = JSON.parse(readFileSync(dir.eventsPath, "utf8")) as { data: { resolvedSpec: unknown } };
    assert.deepEqual(line.data.resolvedSpec, specToJson(spec), "spec.json's form: camelCase, enums by name");
    assert.equal((line.data.resolvedSpec as { train: { precision: string } }).train.precision, "PRECISION_BF16");
    assert.ok(record.type === "started");
    const { headOptimizer: unset, ...data } = record.data; // JSON has no undefined: not stored, as before
    assert.equal(unset, undefined);
    assert.deepEqual(new RunDir(dir.dir).readEvents(), [{ ...record, data }]);
  });

  it("is TensorBoard's spec/resolved text in the form of spec.json", () => {
    const tb = tbEventOf(record, 0)!;
    const text = tb.values.find((v) => v.tag === "spec/resolved");
    assert.ok(text && "strings" in text && text.strings);
    const json = Buffer.from(text.strings).toString("utf8").replace(/^```json\n|\n```$/g, "");
    assert.deepEqual(JSON.parse(json), specToJson(spec));
  });

  it("is MLflow's params: every field under the experiment file's name, enums by label, zero values too", () => {
    const params = Object.fromEntries(specParams(spec).map((p) => [p.key, p.value]));
    assert.equal(params.runId, "rs-1");
    assert.equal(params["model.head.hiddenDims"], "[64,32]");
    assert.equal(params["train.precision"], "bf16");
    assert.equal(params["train.epochs"], "3");
    assert.equal(params["train.compile"], "false");
    assert.equal(params["method.bilevel.headLr"], "0");
    assert.equal(params["data.root"], "");
    assert.ok(!Object.keys(params).some((k) => k.includes("_")), "no snake_case names");
    assert.deepEqual(specParams(undefined), []);
  });
});
