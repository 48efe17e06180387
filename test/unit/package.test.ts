// What `npm pack` ships: the build, the worker's code and lockfile; no tests, environments or
// tools; and every module the build imports at run time is a declared dependency.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { it } from "node:test";
import { projectRoot } from "../../src/workers/paths.js";

const root = projectRoot();
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
};

function packedFiles(): string[] {
  // --ignore-scripts: the build is the one setup made (prepack's own build is exercised by
  // test/e2e/installed-package.test.ts); this checks what `files` selects.
  const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
}

it("npm pack ships the build, the CLI and the worker, and nothing for development", () => {
  const files = packedFiles();
  for (const needed of [
    "bin/projhead.js", "dist/index.js", "dist/index.d.ts", "dist/main.js", "dist/setup/pyenv.js",
    "python_worker/uv.lock", "python_worker/pyproject.toml", "python_worker/projhead_worker/server/service.py",
    "python_worker/projhead/v1/worker_pb2.py", "examples/quickstart.yaml", "README.md",
    "python_worker/projhead_worker/training/data/fashion_mnist_mini/train-images-idx3-ubyte.gz",
    "python_worker/projhead_worker/training/data/fashion_mnist_mini/LICENSE",
  ]) {
    assert.ok(files.includes(needed), `${needed} missing from the package`);
  }
  const unwanted = files.filter((f) =>
    /^(test|src|scripts|bench|docker|\.tools|\.ci|node_modules)\//.test(f) ||
    /(^|\/)(tests|\.venv|__pycache__|[^/]*\.egg-info)\//.test(f) ||
    f.endsWith(".map") || f.endsWith(".build-stamp"),
  );
  assert.deepEqual(unwanted, [], "development files in the package");
  assert.match(pkg.scripts.prepack ?? "", /tsc -p tsconfig\.build\.json/, "prepack must build dist/ (a clone has none)");
  assert.equal(pkg.bin.projhead, "bin/projhead.js");
});

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith(".js") ? [join(dir, e.name)] : [],
  );
}

it("every package the build imports is a runtime dependency", () => {
  const builtins = new Set(builtinModules);
  const imported = new Set<string>();
  for (const f of jsFiles(join(root, "dist"))) {
    const text = readFileSync(f, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    for (const m of text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"'./][^"']*)["']|import\(\s*["']([^"'./][^"']*)["']\s*\)|require\.resolve\(\s*["']([^"'./][^"']*)["']/gm)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      if (spec.startsWith("node:") || builtins.has(spec)) continue;
      imported.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    }
  }
  assert.ok(imported.has("@bufbuild/protobuf"), "the scan sees the generated code's imports");
  const missing = [...imported].filter((p) => !(p in pkg.dependencies)).sort();
  assert.deepEqual(missing, [], "imported at run time but not in dependencies");
});

it("build metadata of the worker is not tracked (setup would dirty the clone)", () => {
  const tracked = execFileSync("git", ["ls-files", "python_worker"], { cwd: root, encoding: "utf8" }).split("\n");
  assert.deepEqual(tracked.filter((f) => /\.egg-info\/|\/build\/|__pycache__/.test(f)), []);
  // and what setuptools writes there is ignored
  execFileSync("git", ["check-ignore", "-q", "python_worker/projhead_worker.egg-info/SOURCES.txt"], { cwd: root });
});
