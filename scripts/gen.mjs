#!/usr/bin/env node
// Regenerates every stub from proto/ with one protoc (the one bundled in grpcio-tools, pinned in
// the worker's lockfile), so TypeScript and Python are always generated from the same contract,
// and both sides of RunSpec from its field rules (scripts/gen_spec.py: the experiment schema and
// defaults, the worker's config dataclasses and checks).
//   node scripts/gen.mjs            write src/gen, python_worker/projhead and the two spec files
//   node scripts/gen.mjs --out DIR  write into DIR instead (the staleness test compares)
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { venvPython } from "./lib/paths.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const outIdx = process.argv.indexOf("--out");
const outBase = outIdx > 0 ? resolve(process.argv[outIdx + 1]) : root;
const tsOut = join(outBase, "src/gen");
const pyOut = join(outBase, "python_worker");
// Generated next to their readers, outside src/gen and python_worker/projhead: plain zod and
// dataclasses, no stubs (test/unit/generated.test.ts lists them too).
const SPEC_FILES = ["src/experiment/runSpec.gen.ts", "python_worker/projhead_worker/common/runspec_gen.py"];

// ts-proto options, chosen deliberately:
// - forceLong=number: every 64-bit field is a count or byte size far below 2^53.
// - oneof=unions-value: RunEvent.kind becomes a discriminated union ({ $case, value }).
// - useOptionals=messages: sub-messages are optional, scalars always present (proto3 semantics).
const tsOpts = [
  "outputServices=grpc-js",
  "esModuleInterop=true",
  "forceLong=number",
  "oneof=unions-value",
  "useOptionals=messages",
  "importSuffix=.js",
  "env=node",
  // rules.proto (and the descriptor.proto it extends) only annotate RunSpec; no client code reads them.
  "emitImportedFiles=false",
].join(",");

rmSync(tsOut, { recursive: true, force: true });
rmSync(join(pyOut, "projhead"), { recursive: true, force: true });
mkdirSync(tsOut, { recursive: true });
mkdirSync(pyOut, { recursive: true });

const plugin = join(root, "node_modules/.bin/protoc-gen-ts_proto");
const tsArgs = [`--plugin=protoc-gen-ts_proto=${plugin}`, `--ts_proto_out=${tsOut}`, `--ts_proto_opt=${tsOpts}`];
const protoc = (outArgs, file, ts = true) =>
  execFileSync(venvPython(root), ["-m", "grpc_tools.protoc", "-I", join(root, "proto"), ...(ts ? tsArgs : []), ...outArgs, file], {
    stdio: "inherit",
  });
// Python stubs land at python_worker/projhead/v1 so their generated absolute imports
// (`from projhead.v1 import worker_pb2`) resolve without editing generated code.
protoc([`--python_out=${pyOut}`, `--pyi_out=${pyOut}`, `--grpc_python_out=${pyOut}`], "projhead/v1/worker.proto");
// The field rule options worker.proto imports: Python only (the worker's stubs import them; the
// TypeScript stubs do not, and read no options).
protoc([`--python_out=${pyOut}`, `--pyi_out=${pyOut}`], "projhead/v1/rules.proto", false);
// The standard health protocol: TypeScript client only (Python uses grpcio-health-checking).
protoc([], "grpc/health/v1/health.proto");

const tmp = mkdtempSync(join(tmpdir(), "projhead-gen-"));
try {
  const set = join(tmp, "worker.binpb");
  protoc([`--descriptor_set_out=${set}`, "--include_imports", "--include_source_info"], "projhead/v1/worker.proto", false);
  for (const f of SPEC_FILES) mkdirSync(join(outBase, f, ".."), { recursive: true });
  execFileSync(venvPython(root), [join(root, "scripts/gen_spec.py"), set, pyOut, ...SPEC_FILES.map((f) => join(outBase, f))], {
    stdio: "inherit",
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`generated stubs in ${tsOut} and ${join(pyOut, "projhead/v1")}, and ${SPEC_FILES.join(", ")}`);
