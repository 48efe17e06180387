// Generated code is committed; it must match what scripts/gen.mjs makes from proto/ now: the
// stubs, and both sides of RunSpec made from its field rules (scripts/gen_spec.py).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { it } from "node:test";
import { projectRoot, venvPython } from "../../src/workers/paths.js";
import { needOrSkip } from "../helpers/require.js";

const root = projectRoot();

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

it("committed stubs are up to date with proto/", { skip: needOrSkip(existsSync(venvPython()), `the worker's Python environment (${venvPython()})`, "npm run setup") }, () => {
  const out = mkdtempSync(join(tmpdir(), "projhead-gen-"));
  execFileSync(process.execPath, [join(root, "scripts/gen.mjs"), "--out", out], { stdio: "pipe" });
  const pairs: [string, string][] = [
    [join(out, "src/gen"), join(root, "src/gen")],
    [join(out, "python_worker/projhead"), join(root, "python_worker/projhead")],
  ];
  for (const [fresh, committed] of pairs) {
    const freshFiles = files(fresh).filter((f) => !f.includes("__pycache__")).map((f) => relative(fresh, f)).sort();
    const committedFiles = files(committed).filter((f) => !f.includes("__pycache__")).map((f) => relative(committed, f)).sort();
    assert.deepEqual(committedFiles, freshFiles, `generated file list differs in ${committed}; run npm run gen`);
    for (const f of freshFiles) {
      assert.equal(readFileSync(join(committed, f), "utf8"), readFileSync(join(fresh, f), "utf8"), `${join(committed, f)} is stale; run npm run gen`);
    }
  }
  for (const f of ["src/experiment/runSpec.gen.ts", "python_worker/projhead_worker/common/runspec_gen.py"]) {
    assert.equal(readFileSync(join(root, f), "utf8"), readFileSync(join(out, f), "utf8"), `${f} is stale; run npm run gen`);
  }
});
