// Bad input gets a clear error naming the field, nothing is written for it, and the worker keeps
// serving: malformed experiment files through the CLI (exit 2), and malformed RPC requests from a
// foreign client built from the .proto at run time (wrong values, unknown enum numbers, huge
// numbers, empty strings, traversal paths, undecodable bytes).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { cli, isAlive, lastJson } from "../helpers/cli.js";
import { ForeignClient, type Outcome } from "../helpers/foreign.js";
import { tinyYaml } from "../helpers/runs.js";

const dir = mkdtempSync(join(tmpdir(), "projhead-bad-input-"));

describe("malformed experiment files through `projhead run --json`", () => {
  const good = tinyYaml({ name: "good" });
  // [what, file content, extra CLI args, expected issue path (a regexp on the JSON error)]
  const cases: [string, string, string[], RegExp][] = [
    ["wrong type", "name: t\ntrain: {epochs: ten}\n", [], /train\.epochs/],
    ["out-of-range value", "name: t\noptim: {lr: -1}\n", [], /optim\.lr/],
    ["huge value", "name: t\ntrain: {batchSize: 1000000000000}\n", [], /train\.batchSize/],
    ["huge seed", "name: t\nseed: 1.0e+30\n", [], /"seed"/],
    ["negative count", "name: t\ndata: {trainLimit: -5}\n", [], /data\.trainLimit/],
    ["not a number", "name: t\noptim: {lr: .nan}\n", [], /optim\.lr/],
    ["unknown enum value", "name: t\nmethod: {name: simclr}\n", [], /method\.name/],
    ["unknown precision", "name: t\ntrain: {precision: fp64}\n", [], /train\.precision/],
    ["bad device", "name: t\ntrain: {device: 'cuda:0; rm -rf /'}\n", [], /train\.device/],
    ["empty string", "name: t\ndata: {name: ''}\n", [], /data\.name/],
    ["empty name", "name: ''\n", [], /"name"/],
    ["unknown key", "name: t\ntrain: {epoch: 3}\n", [], /train\.epoch\b/],
    ["too deep a head", "name: t\nmodel: {head: {hiddenDims: [8, 8, 8, 8]}}\n", [], /model\.head\.hiddenDims/],
    ["fractional dynamics cadence", "name: t\ntrain: {layerEvalEveryEpochs: 1.5}\n", [], /train\.layerEvalEveryEpochs/],
    ["dynamics subset larger than the split", "name: t\ndata: {testLimit: 100}\ntrain: {layerEvalSubset: 101}\n", [], /train\.layerEvalSubset.*test split's 100/],
    ["traversal in name", "name: ../../etc/evil\n", [], /"name"/],
    ["slash in name", "name: a/b\n", [], /"name"/],
    ["not an object", "- 1\n- 2\n", [], /"issues":\[\{"path":""/],
    ["YAML syntax error", "name: t\ntrain: {epochs: [\n", [], /syntax error/],
    ["traversal in --run-id", good, ["--run-id", "../escape"], /runId/],
    ["not a number in --epochs", good, ["--epochs", "ten"], /train\.epochs/],
  ];
  const runs = join(dir, "cli-runs");

  it(`each of ${cases.length} bad files or flags exits 2 naming the field, and writes nothing`, { timeout: 120_000 }, async () => {
    const queue = cases.map((c, i) => ({ c, i }));
    const failures: string[] = [];
    // three CLIs at a time: each is a Node start-up, nothing more (no worker is started)
    await Promise.all([0, 1, 2].map(async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [what, content, args, expected] = next.c;
        const file = join(dir, `bad-${next.i}.yaml`);
        writeFileSync(file, content);
        const r = await cli(["run", file, "--json", "--runs", runs, ...args]);
        const last = String(r.stdout).trim().split("\n").pop() ?? "";
        if (r.exitCode !== 2) failures.push(`${what}: exit ${r.exitCode} (${r.stderr})`);
        else if (!expected.test(last)) failures.push(`${what}: ${last} does not match ${expected}`);
        else assert.ok(lastJson<{ error: string }>(r.stdout).error, what);
      }
    }));
    assert.deepEqual(failures, []);
    assert.ok(!existsSync(runs), "nothing was written under runs/");
  });
});

/** Every file under root with its size and mtime: what "nothing was written" compares. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isSymbolicLink()) out.push(`${p} -> link`);
      else if (e.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else {
        const s = statSync(p);
        out.push(`${p} ${s.size} ${s.mtimeMs}`);
      }
    }
  };
  walk(root);
  return out.sort();
}

describe("malformed RPC requests from a foreign client", () => {
  const runRoot = join(dir, "rpc-runs");
  const dataRoot = join(dir, "data");
  let w: RunningWorker;
  let f: ForeignClient;
  before(async () => {
    // A stored run to point traversal attempts at, and a symlink out of the data root.
    const existing = join(runRoot, "existing");
    mkdirSync(join(existing, "checkpoints"), { recursive: true });
    writeFileSync(join(existing, "worker-spec.json"), JSON.stringify({ run_id: "existing", method: { name: "joint" }, data: { name: "shapes" }, train: { epochs: 1 } }));
    writeFileSync(join(existing, "worker-events.jsonl"), '{"seq": 1, "time": 0, "type": "started"}\n{"seq": 2, "time": 0, "type": "cancelled", "step": 0, "checkpoint": ""}\n');
    symlinkSync("/etc/passwd", join(existing, "checkpoints", "evil.pt"));
    mkdirSync(dataRoot, { recursive: true });
    symlinkSync("/etc", join(dataRoot, "escape"));
    w = await startLocalWorker({ runRoot, dataRoots: [dataRoot] });
    f = new ForeignClient(w.address);
  });
  after(async () => {
    f?.close();
    await w?.stop();
  });

  const spec = (over: Record<string, unknown> = {}) => ({
    run_id: "fresh", seed: "7", data: { name: "shapes", train_limit: 256, synthetic_size: 512 }, train: { epochs: 1, batch_size: 32, device: "cpu" }, ...over,
  });
  const { INVALID_ARGUMENT, PERMISSION_DENIED, NOT_FOUND, ALREADY_EXISTS } = status;
  // [what, method, request, expected status, regexp the message must match]
  const unary: [string, string, unknown, number, RegExp][] = [
    ["no spec at all", "StartRun", {}, INVALID_ARGUMENT, /spec\.run_id/],
    ["empty run_id", "StartRun", { spec: spec({ run_id: "" }) }, INVALID_ARGUMENT, /spec\.run_id/],
    ["run_id ../x", "StartRun", { spec: spec({ run_id: "../x" }) }, INVALID_ARGUMENT, /spec\.run_id.*'\.\.\/x'/],
    ["run_id with a slash", "StartRun", { spec: spec({ run_id: "a/b" }) }, INVALID_ARGUMENT, /spec\.run_id/],
    ["hidden run_id", "StartRun", { spec: spec({ run_id: ".hidden" }) }, INVALID_ARGUMENT, /spec\.run_id/],
    ["run_id of 200 characters", "StartRun", { spec: spec({ run_id: "r".repeat(200) }) }, INVALID_ARGUMENT, /spec\.run_id/],
    ["uint64 max seed", "StartRun", { spec: spec({ seed: "18446744073709551615" }) }, INVALID_ARGUMENT, /spec\.seed/],
    ["seed 2^63", "StartRun", { spec: spec({ seed: "9223372036854775808" }) }, INVALID_ARGUMENT, /spec\.seed/],
    ["huge train_limit", "StartRun", { spec: spec({ data: { name: "shapes", train_limit: 4294967295 } }) }, INVALID_ARGUMENT, /spec\.data\.train_limit/],
    ["batch_size -1 (wraps)", "StartRun", { spec: spec({ train: { batch_size: -1 } }) }, INVALID_ARGUMENT, /spec\.train\.batch_size/],
    ["unknown precision 99", "StartRun", { spec: spec({ train: { precision: 99 } }) }, INVALID_ARGUMENT, /spec\.train\.precision.*99/],
    ["unknown dataset", "StartRun", { spec: spec({ data: { name: "imagenet" } }) }, INVALID_ARGUMENT, /spec\.data\.name/],
    ["unknown method", "StartRun", { spec: spec({ method: { name: "simclr" } }) }, INVALID_ARGUMENT, /spec\.method\.name/],
    ["lr as the string NaN", "StartRun", { spec: spec({ optim: { lr: "NaN" } }) }, INVALID_ARGUMENT, /spec\.optim\.lr/],
    ["negative lr", "StartRun", { spec: spec({ optim: { lr: -1 } }) }, INVALID_ARGUMENT, /spec\.optim\.lr/],
    ["infinite temperature", "StartRun", { spec: spec({ method: { temperature: Infinity } }) }, INVALID_ARGUMENT, /spec\.method\.temperature/],
    ["five hidden head blocks", "StartRun", { spec: spec({ model: { head: { hidden_dims: [8, 8, 8, 8, 8] } } }) }, INVALID_ARGUMENT, /spec\.model\.head\.hidden_dims/],
    ["shell in device", "StartRun", { spec: spec({ train: { device: "cuda:0; rm -rf /" } }) }, INVALID_ARGUMENT, /spec\.train\.device/],
    ["control characters in name", "StartRun", { spec: spec({ name: "a\u0000b" }) }, INVALID_ARGUMENT, /spec\.name/],
    ["data.root /etc", "StartRun", { spec: spec({ data: { name: "mnist", root: "/etc" } }) }, PERMISSION_DENIED, /spec\.data\.root.*outside the worker's data roots/],
    ["data.root climbing out", "StartRun", { spec: spec({ data: { name: "mnist", root: `${dataRoot}/../../etc` } }) }, PERMISSION_DENIED, /spec\.data\.root/],
    ["data.root through a symlink", "StartRun", { spec: spec({ data: { name: "mnist", root: join(dataRoot, "escape") } }) }, PERMISSION_DENIED, /spec\.data\.root/],
    ["data.root with a NUL byte", "StartRun", { spec: spec({ data: { name: "mnist", root: `${dataRoot}/x\u0000y` } }) }, PERMISSION_DENIED, /spec\.data\.root/],
    ["an existing run again", "StartRun", { spec: spec({ run_id: "existing" }) }, ALREADY_EXISTS, /run_id.*existing/],
    ["cancel ../x", "CancelRun", { run_id: "../x", graceful: true }, INVALID_ARGUMENT, /run_id/],
    ["cancel an unknown run", "CancelRun", { run_id: "nope", graceful: false }, NOT_FOUND, /run_id.*nope/],
  ];
  const streaming: [string, string, unknown, number, RegExp][] = [
    ["watch empty run_id", "WatchRun", { run_id: "" }, INVALID_ARGUMENT, /run_id/],
    ["watch ../x", "WatchRun", { run_id: "../x" }, INVALID_ARGUMENT, /run_id/],
    ["watch an unknown run", "WatchRun", { run_id: "nope" }, NOT_FOUND, /run_id.*nope/],
    ["evaluate checkpoint ../../etc/passwd", "Evaluate", { run_id: "existing", checkpoint: "../../etc/passwd" }, PERMISSION_DENIED, /checkpoint.*leaves the run directory/],
    ["evaluate an absolute checkpoint", "Evaluate", { run_id: "existing", checkpoint: "/etc/passwd" }, PERMISSION_DENIED, /checkpoint.*relative/],
    ["evaluate a symlinked checkpoint", "Evaluate", { run_id: "existing", checkpoint: "checkpoints/evil.pt" }, PERMISSION_DENIED, /checkpoint/],
    ["evaluate a file that is no checkpoint", "Evaluate", { run_id: "existing", checkpoint: "worker-spec.json" }, PERMISSION_DENIED, /checkpoint.*not a checkpoint/],
    ["evaluate with a huge probe_max_iter", "Evaluate", { run_id: "existing", eval: { probe_max_iter: 4294967295 } }, INVALID_ARGUMENT, /eval\.probe_max_iter/],
    ["evaluate with a huge knn_k", "Evaluate", { run_id: "existing", eval: { knn_k: 4294967295 } }, INVALID_ARGUMENT, /eval\.knn_k/],
    ["evaluate a layer ../x", "Evaluate", { run_id: "existing", layers: ["h", "../x"] }, INVALID_ARGUMENT, /layers\[1\]/],
    ["evaluate on device tpu", "Evaluate", { run_id: "existing", device: "tpu" }, INVALID_ARGUMENT, /device/],
    ["evaluate data.root /etc", "Evaluate", { run_id: "existing", data: { name: "mnist", root: "/etc" } }, PERMISSION_DENIED, /data\.root/],
    ["evaluate run ../x", "Evaluate", { run_id: "../x" }, INVALID_ARGUMENT, /run_id/],
    ["export checkpoint ../../etc/passwd", "ExportBackbone", { run_id: "existing", checkpoint: "../../etc/passwd" }, PERMISSION_DENIED, /checkpoint/],
    ["export from an unknown run", "ExportBackbone", { run_id: "nope" }, NOT_FOUND, /nope/],
  ];
  // Bytes that are not the request message: a string that is not UTF-8, a length past the end.
  const raw: [string, string, Buffer, boolean][] = [
    ["StartRun with a run_id that is not UTF-8", "/projhead.v1.Worker/StartRun", Buffer.from([0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]), false],
    ["WatchRun cut short", "/projhead.v1.Worker/WatchRun", Buffer.from([0x0a, 0x10, 0x61]), true],
    ["CancelRun of random bytes", "/projhead.v1.Worker/CancelRun", Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), false],
  ];

  it(`refuses ${unary.length + streaming.length + raw.length} malformed requests with a clear status, writes nothing, keeps serving`, { timeout: 90_000 }, async () => {
    const before = snapshot(runRoot);
    const failures: string[] = [];
    const judge = (what: string, r: Outcome, code: number, re: RegExp) => {
      if (r.code !== code) failures.push(`${what}: status ${status[r.code] ?? r.code} (${r.details}), expected ${status[code]}`);
      else if (!re.test(r.details)) failures.push(`${what}: "${r.details}" does not match ${re}`);
    };
    for (const [what, method, req, code, re] of unary) judge(what, await f.unary(method, req), code, re);
    for (const [what, method, req, code, re] of streaming) judge(what, await f.stream(method, req), code, re);
    for (const [what, path, bytes, isStream] of raw) {
      judge(what, await f.raw(path, bytes, isStream), INVALID_ARGUMENT, /not a valid request message/);
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(snapshot(runRoot), before, "nothing was written in the run root");
    assert.equal(await f.check(), "SERVING");
    assert.equal(await f.check("projhead.v1.Worker"), "SERVING");
    assert.ok(isAlive(w.pid!));
  });

  it("re-attaching far past the end of a stored run ends cleanly with nothing", async () => {
    const r = await f.stream("WatchRun", { run_id: "existing", from_seq: "18446744073709551615" });
    assert.equal(r.code, 0, r.details);
    assert.deepEqual(r.value, []);
  });
});
