// The rules across fields (checks.ts crossFieldIssues) refuse, by field, what a run would only
// break later inside its training process, and they are the worker's: each case below is refused
// by both sides naming the same field (config.py RunConfig.validate at StartRun), or accepted by
// both. The CLI refuses such a file with exit 2 before any worker starts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { ExperimentError } from "../../src/experiment/errors.js";
import { resolveExperiment } from "../../src/experiment/resolve.js";
import { checkRuntimeFits } from "../../src/api/run.js";
import { cli, lastJson } from "../helpers/cli.js";
import { needOrSkip } from "../helpers/require.js";

const root = resolve(import.meta.dirname, "../..");
const venvPython = join(root, "python_worker/.venv/bin/python");
const noPython = needOrSkip(existsSync(venvPython), `the worker's Python environment (${venvPython})`, "npm run setup");
const dir = mkdtempSync(join(tmpdir(), "projhead-cross-field-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// [what, the worker's part of an experiment, the field refused (camelCase) or null]
const CASES: [string, Record<string, unknown>, string | null][] = [
  ["directclr dim above a convnet's 32 features", { model: { backbone: "convnet", width: 4 }, method: { name: "directclr", directclrDim: 65536 } }, "method.directclrDim"],
  ["directclr dim equal to the features", { model: { backbone: "convnet", width: 4 }, method: { name: "directclr", directclrDim: 32 } }, null],
  ["directclr dim above resnet18's 512", { model: { backbone: "resnet18" }, method: { name: "directclr", directclrDim: 513 } }, "method.directclrDim"],
  ["a directclr dim another method ignores", { model: { backbone: "convnet", width: 4 }, method: { name: "joint", directclrDim: 65536 } }, null],
  ["one GPU named for two processes", { train: { device: "cuda:1", nproc: 2 } }, "train.device"],
  ["one GPU for one process", { train: { device: "cuda:1", nproc: 1 } }, null],
  ["a batch two processes cannot share", { train: { nproc: 2, batchSize: 255 } }, "train.batchSize"],
  ["a batch 4096 nodes cannot share", { train: { nnodes: 4096, batchSize: 256 } }, "train.batchSize"],
  ["a batch above the synthetic set", { data: { name: "shapes", syntheticSize: 128 }, train: { batchSize: 256 } }, "train.batchSize"],
  ["a batch above the train limit", { data: { name: "fashion-mnist", trainLimit: 100 }, train: { batchSize: 128 } }, "train.batchSize"],
  ["a batch that fits", { data: { name: "shapes", syntheticSize: 128, trainLimit: 64 }, train: { batchSize: 64 } }, null],
  ["a dynamics subset above the test limit", { data: { testLimit: 100 }, train: { layerEvalSubset: 101 } }, "train.layerEvalSubset"],
  ["a dynamics subset above the train limit", { data: { trainLimit: 300 }, train: { layerEvalSubset: 301 } }, "train.layerEvalSubset"],
  ["a dynamics subset above both limits", { data: { trainLimit: 300, testLimit: 100 }, train: { layerEvalSubset: 400 } }, "train.layerEvalSubset"],
  ["a dynamics subset equal to the limit", { data: { testLimit: 100 }, train: { layerEvalSubset: 100 } }, null],
];

function tsField(input: Record<string, unknown>): string | null {
  try {
    resolveExperiment({ name: "x", runtime: { kind: "slurm" }, ...input });
    return null;
  } catch (e) {
    assert.ok(e instanceof ExperimentError, String(e));
    assert.equal(e.issues.length, 1, JSON.stringify(e.issues));
    return e.issues[0]!.path;
  }
}

describe("rules across fields", () => {
  test("refuse by field what a run would break later, as the worker does", { skip: noPython }, () => {
    const snake = (o: unknown): unknown =>
      o && typeof o === "object" && !Array.isArray(o)
        ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snake(v)]))
        : o;
    const code = [
      "import json, sys",
      "from projhead_worker.common.config import RunConfig, SpecError",
      "out = []",
      "for d in json.load(sys.stdin):",
      "    try:",
      "        RunConfig.from_dict(d); out.append(None)",
      "    except SpecError as e:",
      "        out.append(e.field)",
      "print(json.dumps(out))",
    ].join("\n");
    const py = JSON.parse(
      execFileSync(venvPython, ["-c", code], { cwd: join(root, "python_worker"), input: JSON.stringify(CASES.map((c) => snake(c[1]))), encoding: "utf8" }),
    ) as (string | null)[];
    const camel = (s: string | null) => s && s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    for (const [i, [what, input, field]] of CASES.entries()) {
      assert.equal(tsField(input), field, `${what}: the CLI`);
      assert.equal(camel(py[i]!), field, `${what}: the worker`);
    }
  });

  test("train.nnodes above 1 needs the slurm runtime: the file's, or the one the command line chose", () => {
    // The file alone does not decide it (`sweep --slurm` may send a local-runtime file to SLURM).
    const exp = resolveExperiment({ name: "x", runtime: { kind: "local" }, train: { nnodes: 2 } });
    checkRuntimeFits(exp, { runtime: { kind: "slurm" } });
    for (const kind of ["local", "docker"] as const) {
      const e = (() => {
        try {
          checkRuntimeFits(exp, { runtime: kind === "local" ? { kind } : { kind, image: "x" } });
        } catch (err) {
          return err as ExperimentError;
        }
        throw new Error("accepted");
      })();
      assert.ok(e instanceof ExperimentError);
      assert.equal(e.issues[0]!.path, "train.nnodes");
      assert.match(e.issues[0]!.expected, /slurm runtime/);
    }
    checkRuntimeFits(resolveExperiment({ name: "x", train: { nnodes: 1 } }), { runtime: { kind: "local" } });
  });

  test("the CLI refuses such a file with exit 2 before any worker starts", { timeout: 60_000 }, async () => {
    const runs = join(dir, "runs");
    const file = join(dir, "late.yaml");
    writeFileSync(file, "name: late\nmodel: {backbone: convnet, width: 4}\nmethod: {name: directclr, directclrDim: 65536}\n");
    const r = await cli(["run", file, "--json", "--runs", runs]);
    assert.equal(r.exitCode, 2, String(r.stderr));
    const out = lastJson<{ error: string }>(r.stdout);
    assert.match(JSON.stringify(out), /method\.directclrDim.*feature dimension 32/);
    assert.ok(!existsSync(runs), "nothing was written under runs/");

    const nodes = join(dir, "nodes.yaml");
    writeFileSync(nodes, "name: nodes\ntrain: {nnodes: 2, batchSize: 64}\n");
    const n = await cli(["run", nodes, "--json", "--runs", runs]);
    assert.equal(n.exitCode, 2, String(n.stderr));
    assert.match(JSON.stringify(lastJson<{ error: string }>(n.stdout)), /train\.nnodes.*slurm runtime/);
    assert.ok(!existsSync(runs), "nothing was written under runs/");
  });
});
