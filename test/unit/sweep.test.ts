// Sweep expansion: counts, order, run ids (readable, valid, unique, stable) and grid errors.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ExperimentError,
  RUN_ID_RE,
  expandSweep,
  isRunId,
  resolveExperiment,
  sweepRunId,
  type ExperimentInput,
} from "../../src/experiment/index.js";

const expand = (x: ExperimentInput) => expandSweep(resolveExperiment(x));
function invalid(fn: () => unknown): ExperimentError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ExperimentError, `expected an ExperimentError, got ${String(e)}`);
    assert.equal(e.kind, "invalid");
    return e;
  }
  assert.fail("expected an ExperimentError");
}

describe("expandSweep", () => {
  test("no grid: exactly one run named after the experiment", () => {
    const runs = expand({ name: "solo", seed: 4 });
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.runId, "solo");
    assert.deepEqual(runs[0]!.overrides, {});
    assert.equal(runs[0]!.experiment.seed, 4);
    assert.deepEqual(expand({ name: "empty", sweep: { grid: {} } }).map((r) => r.runId), ["empty"]);
  });

  test("cartesian product in file order, first key slowest, overrides applied", () => {
    const runs = expand({
      name: "s",
      train: { epochs: 2 },
      sweep: { grid: { "method.name": ["joint", "bilevel", "no_head"], seed: [0, 1], "optim.lr": [0.1, 0.03] } },
    });
    assert.equal(runs.length, 12);
    assert.deepEqual(runs.slice(0, 3).map((r) => r.runId), ["s-joint-seed0-lr0.1", "s-joint-seed0-lr0.03", "s-joint-seed1-lr0.1"]);
    assert.equal(runs[11]!.runId, "s-no_head-seed1-lr0.03");
    const r = runs[11]!;
    assert.deepEqual(r.overrides, { "method.name": "no_head", seed: 1, "optim.lr": 0.03 });
    assert.deepEqual(Object.keys(r.overrides), ["method.name", "seed", "optim.lr"]);
    assert.deepEqual([r.experiment.method.name, r.experiment.seed, r.experiment.optim.lr], ["no_head", 1, 0.03]);
    assert.equal(r.experiment.train.epochs, 2); // the rest comes from the base experiment
    assert.equal(r.experiment.sweep, undefined);
    assert.equal(new Set(runs.map((x) => x.runId)).size, 12);
  });

  test("the brief's example id and stable ids across expansions", () => {
    assert.equal(sweepRunId("exp", { "method.name": "bilevel", seed: 1 }), "exp-bilevel-seed1");
    const x: ExperimentInput = { name: "st", sweep: { grid: { seed: [2, 1], "train.compile": [true, false] } } };
    const a = expand(x).map((r) => r.runId);
    assert.deepEqual(a, ["st-seed2-compile", "st-seed2-noCompile", "st-seed1-compile", "st-seed1-noCompile"]);
    assert.deepEqual(expand(x).map((r) => r.runId), a);
  });

  test("ids are sanitised, unique and at most 128 characters", () => {
    const runs = expand({
      name: "x",
      sweep: {
        grid: {
          "data.root": ["/data/a b", "/data/a_b", "../up"], // the first two sanitise alike
          "model.head.hiddenDims": [[], [512, 256]],
          "runtime.tls.ca": ["ca.pem"], // parent object created on the way
        },
      },
    });
    assert.equal(runs.length, 6);
    const ids = runs.map((r) => r.runId);
    assert.equal(new Set(ids).size, 6);
    for (const id of ids) assert.ok(isRunId(id) && RUN_ID_RE.test(id), id);
    // the whole string: a final newline (or any control character) is not part of an id
    for (const bad of ["nl\n", "nl\r", "\nnl", "a\u0000", "a b", "..", ".hidden", "x".repeat(129)]) assert.ok(!isRunId(bad), JSON.stringify(bad));
    assert.match(ids[0]!, /^x-_data_a_b-hiddenDimsNone-ca\.pem-[0-9a-f]{8}$/);
    assert.equal(ids[4], "x-._up-hiddenDimsNone-ca.pem");
    assert.equal(ids[5], "x-._up-hiddenDims512x256-ca.pem");
    assert.equal(runs[0]!.experiment.runtime.tls?.ca, "ca.pem");

    const long = expand({ name: "n".repeat(100), sweep: { grid: { "data.root": ["r".repeat(60), "s".repeat(60)] } } });
    for (const r of long) assert.ok(r.runId.length <= 128 && isRunId(r.runId), r.runId);
    assert.notEqual(long[0]!.runId, long[1]!.runId);
    assert.deepEqual(expand({ name: "n".repeat(100), sweep: { grid: { "data.root": ["r".repeat(60), "s".repeat(60)] } } }).map((r) => r.runId), long.map((r) => r.runId));
  });

  test("an unknown grid path is named, with a suggestion", () => {
    const err = invalid(() => resolveExperiment({ name: "g", sweep: { grid: { "method.nme": ["joint"], "train.batch_size": [8] } } }));
    assert.deepEqual(err.issues.map((i) => i.path), ['sweep.grid["method.nme"]', 'sweep.grid["train.batch_size"]']);
    assert.match(err.message, /sweep\.grid\["method\.nme"\]: got "method\.nme", expected the dotted path of one field.*\(did you mean "method\.name"\?\)/);
    assert.match(err.message, /did you mean "train\.batchSize"\?/);
    for (const key of ["name", "sweep.parallel", "method", "model.head"]) {
      invalid(() => resolveExperiment({ name: "g", sweep: { grid: { [key]: ["x"] } } }));
    }
  });

  test("grid values are validated one by one, and must differ", () => {
    const err = invalid(() =>
      resolveExperiment(
        { name: "g", sweep: { grid: { "method.name": ["joint", "bilevl"], seed: [1, 1], "optim.lr": [] } } },
        { source: "s.yaml" },
      ),
    );
    const lines = err.message.split("\n");
    assert.ok(
      lines.includes(
        's.yaml: sweep.grid["method.name"][1]: got "bilevl", expected one of joint, bilevel, no_head, fixed_head, directclr (did you mean "bilevel"?)',
      ),
      err.message,
    );
    assert.ok(lines.includes('s.yaml: sweep.grid["seed"][1]: got 1, expected values that differ from each other'), err.message);
    assert.ok(lines.includes('s.yaml: sweep.grid["optim.lr"]: got [], expected a non-empty list of values'), err.message);
  });

  test("a combination that is invalid as a whole names its run", () => {
    const err = invalid(() => expand({ name: "c", sweep: { grid: { "runtime.kind": ["local", "remote"] } } }));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]!.path, "runtime.address");
    assert.match(err.issues[0]!.expected, /\(in sweep run c-remote\)$/);
  });

  test("a hand-built experiment with a bad grid is rejected too", () => {
    const base = resolveExperiment({ name: "h" });
    invalid(() => expandSweep({ ...base, sweep: { grid: { "optim.lrr": [1] } } }));
  });
});
