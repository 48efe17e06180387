// Usage errors the CLI catches before a worker starts (exit 2, printed once, nothing written),
// and what `export` says about its output.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadHint } from "../../src/commands/export.js";
import { RunDir } from "../../src/runs/store.js";
import { specToJson, toRunSpec } from "../../src/client/spec.js";
import { cli, lastJson } from "../helpers/cli.js";
import { tinyExperiment, tinyYaml } from "../helpers/runs.js";

const dir = mkdtempSync(join(tmpdir(), "projhead-cli-checks-"));

describe("checked before a worker starts", () => {
  it("a local data.root that does not exist: exit 2 naming it, once; no run folder", async () => {
    const file = join(dir, "noroot.yaml");
    const missing = join(dir, "no-such-data");
    writeFileSync(file, tinyYaml({ name: "noroot", data: { name: "fashion-mnist", root: missing } }));
    const runs = join(dir, "runs-noroot");
    const t0 = Date.now();
    const r = await cli(["run", file, "--runs", runs]);
    assert.equal(r.exitCode, 2, String(r.stderr));
    const stderr = String(r.stderr);
    assert.equal(stderr.split("data.root").length - 1, 1, `named once: ${stderr}`);
    assert.match(stderr, new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} does not exist`));
    assert.doesNotMatch(stderr, /starting worker/);
    assert.equal(existsSync(runs), false, "nothing written under runs/");
    assert.ok(Date.now() - t0 < 20_000, "no worker was started");

    // the same for a sweep, with --json
    const s = await cli(["sweep", file, "--runs", runs, "--sweeps", join(dir, "sweeps"), "--json"]);
    assert.equal(s.exitCode, 2, String(s.stderr));
    assert.match(String(lastJson<{ error: string }>(s.stdout).error), /data\.root/);
    assert.equal(existsSync(join(dir, "sweeps")), false);
  });

  it("eval --layers naming a layer the model lacks: exit 2 naming the valid ones", async () => {
    // A run directory as projhead writes it (spec.json), model head [32] -> h, head.1, z
    const runDir = new RunDir(join(dir, "runs", "layers"));
    runDir.writeSpec({ runId: "layers", experiment: "tiny", spec: specToJson(toRunSpec(tinyExperiment({ name: "layers" }), "layers")), createdAt: new Date().toISOString() });
    const r = await cli(["eval", runDir.dir, "--layers", "h,head.3"]);
    assert.equal(r.exitCode, 2, String(r.stderr));
    assert.match(String(r.stderr), /"head\.3".*h, head\.1, z/);
    assert.doesNotMatch(String(r.stderr), /"h"/, "valid layers are not reported");

    // the worker's resolved spec (the run's started event) wins: two hidden blocks
    mkdirSync(runDir.dir, { recursive: true });
    writeFileSync(runDir.eventsPath, JSON.stringify({ seq: 1, time: 0, type: "started", data: { resolvedSpec: { model: { head: { hiddenDims: [64, 32] } } } } }) + "\n");
    const j = await cli(["eval", runDir.dir, "--layers", "head.3", "--json"]);
    assert.equal(j.exitCode, 2);
    assert.match(lastJson<{ error: string }>(j.stdout).error, /h, head\.1, head\.2, z/);
  });
});

describe("export", () => {
  it("--help marks --out as required and says what loads the file", async () => {
    const r = await cli(["export", "--help"]);
    assert.equal(r.exitCode, 0);
    assert.match(String(r.stdout), /--out <file>\s+output \.safetensors file \(required\)/);
    assert.doesNotMatch(String(r.stdout), /loadable into torchvision/);
    const missing = await cli(["export", join(dir, "runs", "layers")]);
    assert.equal(missing.exitCode, 2);
    assert.match(String(missing.stderr), /required option '--out <file>' not specified/);
  });

  it("names the loader that fits the architecture", () => {
    assert.match(loadHint("resnet18", { cifarStem: true, width: 0 }), /torchvision\.models\.resnet18\(\).*CIFAR stem/);
    const conv = loadHint("convnet", { cifarStem: true, width: 4 });
    assert.match(conv, /not a torchvision model/);
    assert.match(conv, /projhead_worker\.training\.models\.build_backbone\("convnet", cifar_stem=True, width=4\)/);
  });
});
