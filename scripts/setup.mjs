#!/usr/bin/env node
// One-step setup shared by `npm run demo`, `npm test` and `npm run bench`. Idempotent and fast
// when nothing changed:
//   1. Node dependencies (npm ci when package-lock.json changed),
//   2. uv, pinned, in .tools/uv (a private venv: no global install),
//   3. the worker's Python environment from python_worker/uv.lock in python_worker/.venv, with
//      projhead_worker editable, the dev group and the tensorboard group (uv sync --frozen
//      re-syncs whenever the lock changes and is a no-op otherwise),
//   3b. with --dev (npm test, npm run bench): the MLflow server the tracking tests log to, in its
//      own pinned environment tools/mlflow/.venv (tools/mlflow/uv.lock), apart from the
//      worker's lock so that neither the worker nor the Docker image carries it,
//   4. the TypeScript build in dist/ (the CLI's bin runs it).
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { venvPython } from "./lib/paths.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const quiet = process.argv.includes("--quiet");
const say = (msg) => quiet || process.stderr.write(`[setup] ${msg}\n`);

function run(cmd, args, opts = {}) {
  execFileSync(cmd, args, { cwd: root, stdio: quiet ? ["ignore", "ignore", "inherit"] : "inherit", ...opts });
}

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

function newestIn(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(p) : mtime(p));
  }
  return newest;
}

// 1. Node dependencies.
const installedLock = join(root, "node_modules/.package-lock.json");
if (!existsSync(installedLock) || mtime(join(root, "package-lock.json")) > mtime(installedLock)) {
  say("installing Node dependencies (npm ci)");
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}

// 2.-3. uv and the worker's environment: the same code as `projhead setup` (src/setup/pyenv.ts,
// loaded through tsx because nothing is built yet), with the repository's locations.
const { tsImport } = await import("tsx/esm/api");
const pyenv = await tsImport("../src/setup/pyenv.ts", import.meta.url);
const log = { say, quiet };
const python = pyenv.findBasePython();
const uv = pyenv.ensureUv(join(root, ".tools/uv"), python, log);
say("syncing the worker's Python environment (uv sync --frozen)");
pyenv.syncEnv({ uv, workerDir: join(root, "python_worker"), python, development: true, groups: ["tensorboard"] }, log);
if (!existsSync(venvPython(root))) throw new Error(`setup: ${venvPython(root)} missing after uv sync`);
if (process.argv.includes("--dev")) {
  say("syncing the test MLflow server's environment (tools/mlflow, uv sync --frozen)");
  // the worker's project, not this one, must be the default for the sync above: no env var leaks
  pyenv.syncEnv({ uv, workerDir: join(root, "tools/mlflow"), python, development: true, compile: false }, log);
}

// 4. TypeScript build for the bin (skipped when dist is newer than every source file).
const stamp = join(root, "dist/.build-stamp");
if (mtime(stamp) < Math.max(newestIn(join(root, "src")), mtime(join(root, "tsconfig.json")), mtime(join(root, "tsconfig.build.json")))) {
  say("building TypeScript (tsc -p tsconfig.build.json)");
  // From empty: tsc never deletes the output of a source file that was moved or removed.
  rmSync(join(root, "dist"), { recursive: true, force: true });
  run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"]);
  execFileSync(process.execPath, ["-e", `require("fs").writeFileSync(${JSON.stringify(stamp)}, "")`]);
}
say("ready");
