#!/usr/bin/env node
// One-step setup shared by `npm run demo`, `npm test` and `npm run bench`. Idempotent and fast
// when nothing changed:
//   1. Node dependencies (npm ci when package-lock.json changed),
//   2. uv, pinned, in .tools/uv (a private venv: no global install),
//   3. the worker's Python environment from python_worker/uv.lock (uv sync --frozen re-syncs
//      whenever the lock changes and is a no-op otherwise; bytecode is compiled at install
//      because PYTHONDONTWRITEBYTECODE machines would otherwise recompile torch at every start),
//   4. the TypeScript build in dist/ (the CLI's bin runs it).
import { execFileSync } from "node:child_process";
import { existsSync, statSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { venvPython } from "./lib/paths.mjs";

const UV_VERSION = "0.13.8";
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

// 2. uv in a private virtual environment.
const uvDir = join(root, ".tools/uv");
const uv = join(uvDir, process.platform === "win32" ? "Scripts/uv.exe" : "bin/uv");
const uvOk = () => {
  try {
    return execFileSync(uv, ["--version"], { encoding: "utf8" }).includes(UV_VERSION);
  } catch {
    return false;
  }
};
if (!uvOk()) {
  const python = findPython();
  say(`installing uv ${UV_VERSION} into .tools/uv (using ${python})`);
  run(python, ["-m", "venv", "--clear", uvDir]);
  run(join(uvDir, "bin/python"), ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `uv==${UV_VERSION}`]);
}

// 3. The worker's Python environment, exactly as locked.
say("syncing the worker's Python environment (uv sync --frozen)");
run(uv, ["sync", "--frozen", "--compile-bytecode", "--project", "python_worker", ...(quiet ? ["--quiet"] : [])], {
  env: { ...process.env, UV_PYTHON_DOWNLOADS: "never", UV_PYTHON: process.env.UV_PYTHON ?? findPython() },
});
if (!existsSync(venvPython(root))) throw new Error(`setup: ${venvPython(root)} missing after uv sync`);

// 4. TypeScript build for the bin (skipped when dist is newer than every source file).
const stamp = join(root, "dist/.build-stamp");
if (mtime(stamp) < Math.max(newestIn(join(root, "src")), mtime(join(root, "tsconfig.json")), mtime(join(root, "tsconfig.build.json")))) {
  say("building TypeScript (tsc -p tsconfig.build.json)");
  run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"]);
  execFileSync(process.execPath, ["-e", `require("fs").writeFileSync(${JSON.stringify(stamp)}, "")`]);
}
say("ready");

function findPython() {
  for (const candidate of [process.env.PROJHEAD_PYTHON, "python3", "python"].filter(Boolean)) {
    try {
      const v = execFileSync(candidate, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" }).trim();
      const [major, minor] = v.split(".").map(Number);
      if (major === 3 && minor >= 10) return candidate;
    } catch {
      // try the next candidate
    }
  }
  throw new Error("setup: Python 3.10 or newer is required (python3 on PATH, or set PROJHEAD_PYTHON)");
}
