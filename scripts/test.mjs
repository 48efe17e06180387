#!/usr/bin/env node
// The whole test suite: the worker's pytest suite, then TypeScript unit and end-to-end tests on
// Node's built-in runner (through tsx). Run by `npm test` after setup.
//   node scripts/test.mjs [--only py|ts] [files...]
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { venvPython } from "./lib/paths.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const args = process.argv.slice(2);
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;

function testFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...testFiles(p));
    else if (e.name.endsWith(".test.ts")) out.push(p);
  }
  return out.sort();
}

let failed = false;
if (only !== "ts") {
  const r = spawnSync(venvPython(root), ["-m", "pytest", "-q", "python_worker/tests"], { cwd: root, stdio: "inherit" });
  failed ||= r.status !== 0;
}
if (only !== "py") {
  const files = [...testFiles(join(root, "test/unit")), ...testFiles(join(root, "test/e2e"))];
  // Files run one at a time: end-to-end tests start real workers and train real models, and the
  // CI machine has 2 cores.
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
    { cwd: root, stdio: "inherit", env: { ...process.env, PROJHEAD_TEST: "1" } },
  );
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
