// The report's per-method lists come from the schema's methods (the contract's method.name
// choices), so a method added to worker.proto is ordered and classified without an edit here.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { METHODS } from "../../src/experiment/schema.js";
import { DEFAULT_BASELINE, METHOD_ORDER } from "../../src/report/aggregate.js";
import { HEADLESS_METHODS, USES_HEAD } from "../../src/report/load.js";

describe("the report's method lists", () => {
  it("METHOD_ORDER lists every method of the schema once, the baseline first", () => {
    assert.deepEqual([...METHOD_ORDER].sort(), [...METHODS].sort());
    assert.equal(new Set(METHOD_ORDER).size, METHOD_ORDER.length);
    assert.equal(METHOD_ORDER[0], DEFAULT_BASELINE);
  });

  it("every method of the schema says whether it uses its head; the headless ones are no_head and directclr", () => {
    assert.deepEqual(Object.keys(USES_HEAD).sort(), [...METHODS].sort());
    assert.ok([...HEADLESS_METHODS].every((m) => (METHODS as readonly string[]).includes(m)));
    assert.deepEqual([...HEADLESS_METHODS].sort(), ["directclr", "no_head"]);
  });
});
