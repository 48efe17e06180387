// runs/<id>/spec.json holds the RunSpec as proto3 JSON (the generated toJSON/fromJSON): enums by
// name, lossless round trip, and older files (enums as numbers) still read.
import assert from "node:assert/strict";
import { it } from "node:test";
import { resolveExperiment } from "../../src/experiment/index.js";
import { specFromJson, specToJson, toRunSpec } from "../../src/client/spec.js";
import { Precision } from "../../src/client/types.js";

it("writes enums by name and reads back the same RunSpec", () => {
  const spec = toRunSpec(resolveExperiment({ name: "j", train: { precision: "bf16", epochs: 3 } }));
  const json = specToJson(spec) as { train: { precision: unknown; epochs: unknown } };
  assert.equal(json.train.precision, "PRECISION_BF16");
  assert.equal(json.train.epochs, 3);
  assert.deepEqual(specFromJson(JSON.parse(JSON.stringify(json))), spec);
});

it("auto precision is the enum's zero value (left out, read back as unspecified)", () => {
  const spec = toRunSpec(resolveExperiment({ name: "a" }));
  const json = specToJson(spec) as { train: Record<string, unknown> };
  assert.ok(!("precision" in json.train));
  assert.equal(specFromJson(json).train!.precision, Precision.PRECISION_UNSPECIFIED);
});

it("reads spec.json files written before (enums as numbers)", () => {
  const spec = toRunSpec(resolveExperiment({ name: "old", train: { precision: "fp32" } }));
  const old = JSON.parse(JSON.stringify(spec)) as { train: { precision: number } };
  assert.equal(old.train.precision, 1);
  assert.deepEqual(specFromJson(old), spec);
});
