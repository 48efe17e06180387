#!/usr/bin/env node
// The whole test suite, in groups run one after another, with the wall time of each group:
//   types   tsc --noEmit over src, test and bench (tsconfig.json) and scripts (tsconfig.scripts.json)
//   py      the worker's pytest suite (python_worker/tests)
//   unit    TypeScript unit tests (test/unit)
//   e2e     TypeScript end-to-end tests against real workers (test/e2e)
//   docker  end-to-end tests on a real container engine (test/docker)
//   slurm   end-to-end tests on a real SLURM cluster (test/slurm)
// Run by `npm test` after setup. Engines (dockerd, the SLURM daemons) are started by the caller
// (.ci/run, or the scripts in scripts/ for local development); under CI=true a test whose engine
// or dependency is missing fails instead of skipping (test/helpers/require.ts, conftest.py).
//   node scripts/test.mjs [--only py,unit,...] [--skip docker,...] [files...]
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { venvPython } from "./lib/paths.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const GROUPS = ["types", "py", "unit", "e2e", "docker", "slurm"];

const args = process.argv.slice(2);
const listArg = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1].split(",") : null);
const only = listArg("--only");
const skip = listArg("--skip") ?? [];
for (const g of [...(only ?? []), ...skip]) {
  if (!GROUPS.includes(g)) {
    console.error(`test: unknown group "${g}" (groups: ${GROUPS.join(", ")})`);
    process.exit(2);
  }
}
const files = args.filter((a, i) => !a.startsWith("--") && !["--only", "--skip"].includes(args[i - 1]));

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...testFiles(p));
    else if (e.name.endsWith(".test.ts")) out.push(p);
  }
  return out.sort();
}

function runTs(paths) {
  // Files run one at a time: end-to-end tests start real workers and train real models, and the
  // CI machine has 2 cores.
  return spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...paths],
    { cwd: root, stdio: "inherit", env: { ...process.env, PROJHEAD_TEST: "1" } },
  ).status;
}

const runners = {
  // Incremental: a re-run after small edits checks only what changed (the state file lives with
  // the other build caches in node_modules/.cache).
  types: () => {
    for (const config of ["tsconfig.json", "tsconfig.scripts.json"]) {
      const info = join(root, "node_modules/.cache/projhead", `${config}.tsbuildinfo`);
      const tsc = join(root, "node_modules/typescript/bin/tsc");
      const status = spawnSync(process.execPath, [tsc, "-p", config, "--noEmit", "--incremental", "--tsBuildInfoFile", info], { cwd: root, stdio: "inherit" }).status;
      if (status !== 0) return status;
    }
    return 0;
  },
  py: (extra) =>
    spawnSync(venvPython(root), ["-m", "pytest", "-q", ...(extra.length ? extra : ["python_worker/tests"])], {
      cwd: root,
      stdio: "inherit",
    }).status,
  unit: (extra) => runTs(extra.length ? extra : testFiles(join(root, "test/unit"))),
  e2e: (extra) => runTs(extra.length ? extra : testFiles(join(root, "test/e2e"))),
  docker: (extra) => runTs(extra.length ? extra : testFiles(join(root, "test/docker"))),
  slurm: (extra) => runTs(extra.length ? extra : testFiles(join(root, "test/slurm"))),
};

// Explicit files go to the group whose folder holds them (.py files to pytest).
const groupOf = (f) => {
  if (f.endsWith(".py") || f.includes("python_worker/")) return "py";
  for (const g of ["unit", "e2e", "docker", "slurm"]) if (f.includes(`test/${g}/`)) return g;
  return "e2e";
};

const timings = [];
let failed = false;
for (const g of GROUPS) {
  if ((only && !only.includes(g)) || skip.includes(g)) continue;
  const mine = files.filter((f) => groupOf(f) === g);
  if (files.length && mine.length === 0) continue;
  if (!["py", "types"].includes(g) && !mine.length && testFiles(join(root, `test/${g}`)).length === 0) continue;
  const t0 = Date.now();
  const status = runners[g](mine);
  const seconds = (Date.now() - t0) / 1000;
  timings.push({ group: g, seconds, ok: status === 0 });
  failed ||= status !== 0;
}
console.log("\ntest groups (wall time):");
for (const t of timings) console.log(`  ${t.group.padEnd(7)} ${t.seconds.toFixed(0).padStart(5)} s  ${t.ok ? "ok" : "FAILED"}`);
process.exit(failed ? 1 : 0);
