#!/usr/bin/env node
// Regenerates every stub from proto/ with one protoc (the one bundled in grpcio-tools, pinned in
// the worker's lockfile), so TypeScript and Python are always generated from the same contract.
//   node scripts/gen.mjs            write src/gen and python_worker/projhead
//   node scripts/gen.mjs --out DIR  write into DIR instead (the staleness test compares)
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { venvPython } from "./lib/paths.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const outIdx = process.argv.indexOf("--out");
const outBase = outIdx > 0 ? resolve(process.argv[outIdx + 1]) : root;
const tsOut = join(outBase, "src/gen");
const pyOut = join(outBase, "python_worker");

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
].join(",");

rmSync(tsOut, { recursive: true, force: true });
rmSync(join(pyOut, "projhead"), { recursive: true, force: true });
mkdirSync(tsOut, { recursive: true });
mkdirSync(pyOut, { recursive: true });

const plugin = join(root, "node_modules/.bin/protoc-gen-ts_proto");
const protoc = (outArgs, file) =>
  execFileSync(
    venvPython(root),
    ["-m", "grpc_tools.protoc", "-I", join(root, "proto"), `--plugin=protoc-gen-ts_proto=${plugin}`,
      `--ts_proto_out=${tsOut}`, `--ts_proto_opt=${tsOpts}`, ...outArgs, file],
    { stdio: "inherit" },
  );
// Python stubs land at python_worker/projhead/v1 so their generated absolute imports
// (`from projhead.v1 import worker_pb2`) resolve without editing generated code.
protoc([`--python_out=${pyOut}`, `--pyi_out=${pyOut}`, `--grpc_python_out=${pyOut}`], "projhead/v1/worker.proto");
// The standard health protocol: TypeScript client only (Python uses grpcio-health-checking).
protoc([], "grpc/health/v1/health.proto");
console.log(`generated stubs in ${tsOut} and ${join(pyOut, "projhead/v1")}`);
