// Experiment schema, defaults (parity with the Python worker), files and RunSpec conversion.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { z } from "zod";
import {
  AugmentSpec,
  EvalSpec,
  JointOptions,
  BilevelOptions,
  DataSpec,
  HeadSpec,
  MethodSpec,
  ModelSpec,
  OptimSpec,
  Precision,
  RunSpec,
  TrainSpec,
} from "../../src/gen/projhead/v1/worker.js";
import {
  ACTIVATIONS,
  BACKBONES,
  DATASETS,
  DEFAULT_EXPERIMENT,
  ExperimentError,
  HEAD_OPTIMIZERS,
  METHODS,
  OPTIMIZERS,
  PRECISIONS,
  SCHEDULES,
  defineExperiment,
  expandSweep,
  leafPaths,
  loadExperiment,
  resolveExperiment,
  type ResolvedExperiment,
} from "../../src/experiment/index.js";
import { fromRunSpec, toRunSpec } from "../../src/client/spec.js";
import { schemaAt } from "../../src/experiment/schema.js";
import { needOrSkip } from "../helpers/require.js";

const root = resolve(import.meta.dirname, "../..");
const venvPython = join(root, "python_worker/.venv/bin/python");
const noPython = needOrSkip(existsSync(venvPython), `the worker's Python environment (${venvPython})`, "npm run setup");
const WORKER_FIELDS = ["seed", "data", "model", "method", "optim", "train", "augment", "eval"] as const;

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
function camelKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camelKeys);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), camelKeys(x)]));
  return v;
}
function python(code: string, input = ""): string {
  return execFileSync(venvPython, ["-c", code], { cwd: join(root, "python_worker"), input, encoding: "utf8" });
}
function expectError(fn: () => unknown): ExperimentError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ExperimentError, `expected an ExperimentError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected an ExperimentError");
}
async function expectRejects(p: Promise<unknown>): Promise<ExperimentError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ExperimentError, `expected an ExperimentError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected an ExperimentError");
}

describe("defaults", () => {
  test("are identical to the Python worker's RunConfig()", { skip: noPython }, () => {
    const out = python(
      "import json; from projhead_worker.common.config import RunConfig; print(json.dumps(RunConfig().to_dict()))",
    );
    const py = camelKeys(JSON.parse(out)) as Record<string, unknown>;
    delete py["runId"]; // per run, not an experiment field
    delete py["name"]; // required in experiments, no default
    const ts = Object.fromEntries(WORKER_FIELDS.map((k) => [k, DEFAULT_EXPERIMENT[k]]));
    // train.tensorboard is the orchestrator's own (src/tracking; never sent): the one key of a
    // worker section the worker does not have
    const { tensorboard, ...workerTrain } = ts.train as Record<string, unknown>;
    assert.equal(tensorboard, true);
    assert.deepEqual({ ...ts, train: workerTrain }, py);
  });

  test("allowed values are the worker's", { skip: noPython }, () => {
    const out = python(
      "import json; from projhead_worker.common import config as c; print(json.dumps([c.METHODS, c.BACKBONES, c.DATASETS, c.OPTIMIZERS, c.HEAD_OPTIMIZERS, c.SCHEDULES, c.ACTIVATIONS, c.PRECISIONS]))",
    );
    assert.deepEqual(JSON.parse(out), [METHODS, BACKBONES, DATASETS, OPTIMIZERS, HEAD_OPTIMIZERS, SCHEDULES, ACTIVATIONS, PRECISIONS]);
  });

  test("numeric ranges accept and reject exactly what the worker does", { skip: noPython }, () => {
    // Each numeric field's own boundaries, just beyond them, and a fixed ladder of values that
    // catches a bound which differs on the Python side.
    const ladder = [-1, 0, 1e-9, 1e-3, 0.01, 0.5, 0.9999, 1, 1.5, 2, 8, 10, 64, 100, 1000, 1024, 1e4, 65536, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];
    const cases: { path: string; value: unknown }[] = [];
    for (const path of leafPaths()) {
      const [top] = path.split(".");
      if (!(WORKER_FIELDS as readonly string[]).includes(top!)) continue;
      const s = schemaAt(path.split("."));
      if (!(s instanceof z.ZodNumber)) continue;
      const lo = s.minValue!;
      const hi = s.maxValue!;
      const near = path === "data.imageSize" ? [7, 8, 1024, 1025] : s.isInt ? [lo, hi, lo - 1, hi + 1, lo + 0.5] : [lo, hi, lo === 0 ? -1e-9 : lo / 2, hi * 1.001];
      for (const value of [...near, ...ladder]) cases.push({ path, value });
    }
    for (const value of [[], [1, 1, 1], [1, 1, 1, 1], [65537]]) cases.push({ path: "model.head.hiddenDims", value });
    for (const value of ["auto", "cpu", "cuda", "cuda:3", "gpu", "cuda:"]) cases.push({ path: "train.device", value });
    assert.ok(cases.length > 800, `only ${cases.length} cases`);

    const nest = (path: string, value: unknown): Record<string, unknown> => {
      const keys = path.split(".");
      return keys.reduceRight<unknown>((acc, k) => ({ [k]: acc }), value) as Record<string, unknown>;
    };
    const snake = (o: unknown): unknown =>
      o && typeof o === "object" && !Array.isArray(o)
        ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snake(v)]))
        : o;
    const verdicts = JSON.parse(
      python(
        [
          "import json, sys",
          "from projhead_worker.common.config import RunConfig, SpecError",
          "out = []",
          "for d in json.load(sys.stdin):",
          "    try:",
          "        RunConfig.from_dict(d); out.append(True)",
          "    except SpecError:",
          "        out.append(False)",
          "print(json.dumps(out))",
        ].join("\n"),
        JSON.stringify(cases.map((c) => snake(nest(c.path, c.value)))),
      ),
    ) as boolean[];
    const mismatches = cases.filter((c, i) => {
      let ok = true;
      try {
        resolveExperiment({ name: "x", ...nest(c.path, c.value) });
      } catch {
        ok = false;
      }
      // Deliberately stricter: a 0 the worker would silently replace by its default, and seeds
      // above 2^53 (JS numbers; the worker allows 2^63).
      if (!ok && verdicts[i] && (c.value === 0 || (c.path === "seed" && Number(c.value) > Number.MAX_SAFE_INTEGER))) return false;
      return ok !== verdicts[i];
    });
    assert.deepEqual(mismatches, []);
  });
});

describe("resolveExperiment", () => {
  test("fills every field from the defaults and keeps what the user set", () => {
    const e = resolveExperiment({ name: "a", method: { bilevel: { innerSteps: 3 } }, model: { head: { hiddenDims: [] } } });
    assert.equal(e.name, "a");
    assert.equal(e.method.bilevel.innerSteps, 3);
    assert.equal(e.method.bilevel.headOptimizer, "inherit"); // sibling kept from the defaults
    assert.equal(e.model.head.hiddenDims.length, 0); // arrays replace, never merge
    assert.equal(e.model.head.outDim, 128);
    assert.deepEqual(e.runtime, { kind: "local" });
    assert.equal(e.sweep, undefined);
    e.model.head.hiddenDims.push(1); // the result is a copy: defaults stay untouched
    assert.deepEqual(DEFAULT_EXPERIMENT.model.head.hiddenDims, [512]);
  });

  test("null means 'not given' (YAML `key:` with nothing after it)", () => {
    const e = resolveExperiment({ name: "a", seed: null, train: { epochs: null }, runtime: { python: null } });
    assert.equal(e.seed, 0);
    assert.equal(e.train.epochs, 1);
    assert.equal("python" in e.runtime, false);
  });

  test("lists every problem with path, value and what is allowed", () => {
    const err = expectError(() =>
      resolveExperiment(
        {
          name: "bad name!",
          method: { name: "bilevl", bilevel: { inner_steps: 2 } },
          train: { batchSize: 1, precision: "fp16", device: "gpu" },
          optim: { lr: "0.1" },
          data: 5,
          model: { head: { hiddenDims: [512, 512, 512, 512] } },
          trian: {},
          eval: { layers: "head.1" },
        },
        { source: "quickstart.yaml" },
      ),
    );
    const lines = err.message.split("\n");
    assert.equal(lines.length, err.issues.length);
    assert.ok(lines.every((l) => l.startsWith("quickstart.yaml: ")));
    const has = (s: string) => assert.ok(lines.includes(s), `missing line:\n${s}\nin:\n${err.message}`);
    has(
      'quickstart.yaml: method.name: got "bilevl", expected one of joint, bilevel, no_head, fixed_head, directclr (did you mean "bilevel"?)',
    );
    has("quickstart.yaml: train.batchSize: got 1, expected an integer in [2, 65536]");
    has('quickstart.yaml: train.precision: got "fp16", expected one of auto, fp32, bf16');
    has('quickstart.yaml: eval.layers: got "head.1", expected one of all, h');
    has('quickstart.yaml: train.device: got "gpu", expected auto, cpu, cuda or cuda:N');
    has('quickstart.yaml: optim.lr: got "0.1", expected a finite number in [1e-8, 100]');
    has("quickstart.yaml: data: got 5, expected an object");
    has("quickstart.yaml: model.head.hiddenDims: got [512,512,512,512], expected at most 3 hidden blocks (head depth 0..3)");
    assert.match(err.message, /^quickstart\.yaml: name: got "bad name!", expected 1-128 characters/m);
    assert.match(err.message, /method\.bilevel\.inner_steps: got 2, expected a known field \(innerSteps, .*\) \(did you mean "innerSteps"\?\)/);
    assert.match(err.message, /^quickstart\.yaml: trian: got \{\}, expected a known field \(name, seed, data, .*\) \(did you mean "train"\?\)$/m);
    const issue = err.issues.find((i) => i.path === "method.name")!;
    assert.deepEqual(issue.value, "bilevl");
    assert.match(issue.expected, /^one of joint, bilevel/);
    assert.equal(err.kind, "invalid");
    assert.deepEqual(JSON.parse(JSON.stringify(err)).issues, err.issues);
  });

  test("a missing name, a non-object and a remote runtime without address are named", () => {
    assert.match(expectError(() => resolveExperiment({})).message, /^experiment: name: got nothing, expected 1-128 characters/);
    assert.match(expectError(() => resolveExperiment([1])).message, /^experiment: got \[1\], expected an experiment object/);
    const err = expectError(() => resolveExperiment({ name: "r", runtime: { kind: "remote" } }));
    assert.deepEqual(err.issues.map((i) => i.path), ["runtime.address"]);
    assert.equal(resolveExperiment({ name: "r", runtime: { kind: "remote", address: "gpu:50051" } }).runtime.address, "gpu:50051");
  });

  test("defineExperiment is a typed identity", () => {
    const x = defineExperiment({ name: "t", method: { name: "bilevel", bilevel: { innerSteps: 2 } } });
    assert.equal(resolveExperiment(x).method.bilevel.innerSteps, 2);
    // @ts-expect-error unknown keys are type errors too
    defineExperiment({ name: "t", methd: {} });
  });
});

describe("loadExperiment", () => {
  const dir = mkdtempSync(join(tmpdir(), "projhead-exp-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test("reads YAML, YML and JSON", async () => {
    const y = await loadExperiment(file("a.yaml", "name: a\ntrain:\n  epochs: 4\noptim:\n  weightDecay: 1e-5\n"));
    assert.equal(y.train.epochs, 4);
    assert.equal(y.optim.weightDecay, 1e-5);
    assert.equal((await loadExperiment(file("b.yml", "name: b\n"))).name, "b");
    const j = await loadExperiment(file("c.json", JSON.stringify({ name: "c", seed: 7 })));
    assert.equal(j.seed, 7);
  });

  test("imports the default export of a module (object or function)", async () => {
    const m = await loadExperiment(file("m.mjs", "export default { name: 'm', seed: 3 };\n"));
    assert.equal(m.seed, 3);
    const f = await loadExperiment(file("f.mjs", "export default async () => ({ name: 'f' });\n"));
    assert.equal(f.name, "f");
    const ts = await loadExperiment(file("t.ts", "const seed: number = 5;\nexport default { name: 't', seed };\n"));
    assert.equal(ts.seed, 5);
    assert.match((await expectRejects(loadExperiment(file("n.mjs", "export const x = 1;\n")))).message, /no default export/);
  });

  test("a missing file names the path", async () => {
    const p = join(dir, "nope.yaml");
    const err = await expectRejects(loadExperiment(p));
    assert.equal(err.kind, "not_found");
    assert.ok(err.message.includes(p), err.message);
    assert.ok((await expectRejects(loadExperiment(join(dir, "nope.mjs")))).message.includes("nope.mjs"));
  });

  test("syntax errors carry line and column", async () => {
    const y = await expectRejects(loadExperiment(file("s.yaml", "name: s\ntrain:\n  epochs: [1,\n")));
    assert.equal(y.kind, "syntax");
    assert.match(y.message, new RegExp(`^${y.source.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+: YAML syntax error: `));
    assert.ok(y.line! >= 3, y.message);
    const j = await expectRejects(loadExperiment(file("s.json", '{\n  "name": "s",\n  "seed": 1,\n}\n')));
    assert.equal(j.kind, "syntax");
    assert.deepEqual([j.line, j.col], [4, 1]);
    assert.match(j.message, /s\.json:4:1: JSON syntax error/);
    const dup = await expectRejects(loadExperiment(file("d.yaml", "name: a\nname: b\n")));
    assert.equal(dup.line, 2);
  });

  test("validation errors are prefixed with the file as given", async () => {
    const p = file("quickstart.yaml", "name: q\nmethod:\n  name: bilevl\n");
    const err = await expectRejects(loadExperiment(p));
    assert.equal(
      err.message,
      `${p}: method.name: got "bilevl", expected one of joint, bilevel, no_head, fixed_head, directclr (did you mean "bilevel"?)`,
    );
    assert.match((await expectRejects(loadExperiment(file("e.yaml", "")))).message, /got null, expected an experiment object/);
    assert.equal((await expectRejects(loadExperiment(file("x.toml", "")))).kind, "unsupported");
  });

  test("the examples load, validate and expand", async () => {
    const runs = async (f: string) => expandSweep(await loadExperiment(join(root, "examples", f))).map((r) => r.runId);
    assert.deepEqual(await runs("quickstart.yaml"), ["quickstart"]);
    const shapes = await runs("study-shapes.yaml");
    assert.equal(shapes.length, 10);
    assert.equal(shapes[3], "study-shapes-bilevel-seed1");
    assert.equal((await runs("study-cifar10.yaml")).length, 6);
    assert.deepEqual(await runs("fashion-mnist.yaml"), ["joint", "bilevel", "no_head", "fixed_head", "directclr"].map((m) => `fashion-mnist-${m}`));
    assert.deepEqual(await runs("demo.yaml"), ["demo-joint", "demo-bilevel", "demo-no_head"]);
    // the first verdict study (kept as it ran): 9 screening runs (seed 0), 21 final runs (seeds 1-3)
    const verdict = async (dir: string, prefix: string) => {
      const files = readdirSync(join(root, "examples", dir)).filter((f) => f.startsWith(prefix)).sort();
      return (await Promise.all(files.map((f) => runs(`${dir}/${f}`)))).flat();
    };
    assert.equal((await verdict("verdict/v1", "screen-")).length, 9);
    assert.equal((await verdict("verdict/v1", "finals-")).length, 21);
    // the verdict study: 4 head lrs for each method, seed 0 (equal tuning budget)
    assert.deepEqual(await verdict("verdict", "screen-"), [
      ...[0.0009, 0.003, 0.009, 0.03].map((lr) => `verdict-screen-bilevel-headLr${lr}`),
      ...[0.0009, 0.003, 0.009, 0.03].map((lr) => `verdict-screen-joint-headLr${lr}`),
    ]);
    const q = await loadExperiment(join(root, "examples/quickstart.yaml"));
    assert.deepEqual([q.data.name, q.train.device, q.model.backbone], ["fashion-mnist-mini", "cpu", "convnet"]);
    const c = await loadExperiment(join(root, "examples/study-cifar10.yaml"));
    assert.deepEqual([c.model.backbone, c.model.cifarStem, c.train.precision, c.train.batchSize], ["resnet18", true, "bf16", 512]);
  });
});

describe("toRunSpec", () => {
  // Every field differs from its default and from the proto zero value, so a forgotten or
  // swapped field cannot pass unnoticed.
  const full: ResolvedExperiment = resolveExperiment({
    name: "every-field",
    seed: 123456789012,
    data: { name: "cifar10", root: "/d", trainLimit: 31, testLimit: 12, imageSize: 24, syntheticSize: 13 },
    model: {
      backbone: "resnet18",
      cifarStem: false,
      width: 14,
      head: { hiddenDims: [15, 16], outDim: 17, batchNorm: false, activation: "gelu", lastBatchNorm: true },
    },
    method: {
      name: "bilevel",
      temperature: 0.2,
      bilevel: { innerSteps: 5, headLr: 0.3, headOptimizer: "adamw", headWeightDecay: 0.01, headResetEvery: 18, headInOuter: true, headMomentum: 0.7 },
      directclrDim: 19,
      joint: { headLr: 0.05 },
    },
    optim: { name: "lars", lr: 0.4, momentum: 0.8, nesterov: true, weightDecay: 1e-6, warmupEpochs: 2.5, schedule: "constant" },
    train: {
      epochs: 20,
      batchSize: 30, // within the rules across fields: nproc x nnodes divides it, trainLimit holds it
      device: "cuda",
      precision: "bf16",
      compile: true,
      maxSteps: 22,
      logEverySteps: 23,
      knnEveryEpochs: 24,
      checkpointEveryEpochs: 25,
      checkpointEverySteps: 26,
      nproc: 3,
      nnodes: 2,
      evalAtEnd: true,
      threads: 28,
      layerEvalEveryEpochs: 29,
      layerEvalSubset: 11,
    },
    augment: { cropMinScale: 0.35, jitterStrength: 0.5, jitterP: 0.7, grayscaleP: 0.1, blurP: 0.25, flipP: 0.4, minimal: true },
    eval: { probeMaxIter: 30, knnK: 31, knnTemperature: 0.3, valFraction: 0.3, baselines: false, layers: "h" },
    runtime: { kind: "slurm" }, // nnodes 2
  });

  test("maps every field of every RunSpec message", () => {
    const spec = toRunSpec(full, "every-field-1");
    const base = toRunSpec(resolveExperiment({ name: "defaults" })) as unknown as Record<string, Record<string, unknown>>;
    const messages: [string, object, object | undefined][] = [
      ["RunSpec", RunSpec.fromPartial({}), spec],
      ["DataSpec", DataSpec.fromPartial({}), spec.data],
      ["ModelSpec", ModelSpec.fromPartial({}), spec.model],
      ["HeadSpec", HeadSpec.fromPartial({}), spec.model?.head],
      ["MethodSpec", MethodSpec.fromPartial({}), spec.method],
      ["BilevelOptions", BilevelOptions.fromPartial({}), spec.method?.bilevel],
      ["OptimSpec", OptimSpec.fromPartial({}), spec.optim],
      ["TrainSpec", TrainSpec.fromPartial({}), spec.train],
      ["AugmentSpec", AugmentSpec.fromPartial({}), spec.augment],
      ["JointOptions", JointOptions.fromPartial({}), spec.method?.joint],
      ["EvalSpec", EvalSpec.fromPartial({}), spec.eval],
    ];
    for (const [name, empty, got] of messages) {
      assert.ok(got, `${name} missing`);
      // fromPartial({}) leaves sub-messages undefined but still lists them as keys.
      assert.deepEqual(Object.keys(got).sort(), Object.keys(empty).sort(), `${name}: fields`);
      for (const [k, v] of Object.entries(got)) assert.notEqual(v, undefined, `${name}.${k} is not set`);
    }
    // Every scalar differs from the default experiment's spec: none was dropped or swapped.
    const sub = (m: Record<string, unknown> | undefined, path: string): unknown[] =>
      Object.entries(m ?? {}).flatMap(([k, v]) =>
        v && typeof v === "object" && !Array.isArray(v) ? sub(v as Record<string, unknown>, `${path}.${k}`) : [[`${path}.${k}`, v]],
      );
    const baseValues = new Map(sub(base, "spec") as [string, unknown][]);
    for (const [path, v] of sub(spec as unknown as Record<string, unknown>, "spec") as [string, unknown][]) {
      assert.notDeepEqual(v, baseValues.get(path), `${path} was not taken from the experiment`);
    }
    assert.equal(spec.runId, "every-field-1");
    assert.equal(spec.train!.precision, Precision.PRECISION_BF16);
  });

  test("round trips through the wire format and back to the experiment", () => {
    const spec = toRunSpec(full, "every-field-1");
    const wire = RunSpec.decode(RunSpec.encode(spec).finish());
    assert.deepEqual(wire, spec);
    const back = resolveExperiment({ ...fromRunSpec(RunSpec.fromJSON(RunSpec.toJSON(wire))), runtime: { kind: "slurm" } }); // nnodes 2
    for (const k of ["name", ...WORKER_FIELDS] as const) assert.deepEqual(back[k], full[k], k);
  });

  test("precision names map to the enum; run ids are checked", () => {
    const at = (precision: "auto" | "fp32" | "bf16") =>
      toRunSpec(resolveExperiment({ name: "p", train: { precision } })).train!.precision;
    assert.equal(at("auto"), Precision.PRECISION_UNSPECIFIED);
    assert.equal(at("fp32"), Precision.PRECISION_FP32);
    assert.equal(at("bf16"), Precision.PRECISION_BF16);
    assert.equal(toRunSpec(full).runId, "every-field");
    assert.match(expectError(() => toRunSpec(full, "../x")).message, /runId: got "\.\.\/x"/);
  });
});
