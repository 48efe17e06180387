// Imports between the rooms of src/ (docs/INTERNALS.md, "TypeScript package") run one way: a
// room imports only rooms below it in ROOMS (and itself). Every relative import of every
// src/**/*.ts is read with a regular expression (static `from "..."`, side-effect `import "..."`
// and `import("...")`); package imports are not rooms and are not checked here.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, it } from "node:test";
import { projectRoot } from "../../src/workers/paths.js";

/**
 * The room order, bottom first: a room may import the rooms before it. Folders end in "/",
 * the top-level modules are named as files. A new folder or top-level file of src/ has to be
 * placed here (the test says so).
 */
const ROOMS = [
  "gen/", // generated from proto/ by `npm run gen`
  "fsutil/", // the atomic file write (Node built-ins only)
  "setup/", // the worker's Python environment (Node built-ins only: scripts/setup.mjs runs it before the build)
  "experiment/", // the experiment file's schema, defaults, loading, sweeps
  "client/", // the gRPC client: the only room that imports gen/
  "runs/", // the run store and its on-disk shapes
  "workers/", // how a worker is obtained (local, docker, remote, slurm)
  "version.ts", // the package's version (read through workers/paths.ts's projectRoot)
  "tracking/", // TensorBoard and MLflow from the stored events
  "execution/", // one run from StartRun to its terminal event
  "report/", // `projhead report`: reads the run store
  "api/", // the library's entry points
  "cli/", // the terminal helpers the commands share
  "commands/", // one file per command
  "index.ts", // the library's entry (package.json "exports")
  "main.ts", // the command line's entry (bin/projhead.js runs dist/main.js)
];

/** Rooms that only the rooms named may import (INTERNALS: only client/ sees the generated code;
 *  main.ts registers the commands). */
const ONLY_IMPORTED_BY: Record<string, string[]> = {
  "gen/": ["client/"],
  "commands/": ["main.ts"],
};

/**
 * Imports of a room above the importer that are allowed for now, each with its reason:
 * { file: "src/<room>/<file>.ts", import: "<specifier as written>", why: "..." }.
 * None at present; an entry that no longer matches an import fails the test too.
 */
const EXCEPTIONS: { file: string; import: string; why: string }[] = [];

const root = projectRoot();
const src = join(root, "src");

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** The room of a path inside src/: its first folder ("api/") or, at the top, its file ("main.ts"). */
function roomOf(path: string): string {
  const parts = relative(src, path).split(sep);
  return parts.length > 1 ? `${parts[0]}/` : parts[0]!;
}

/** The .ts file a relative specifier names (NodeNext: "./x.js" is ./x.ts), or null. */
function resolveSpecifier(from: string, spec: string): string | null {
  const target = resolve(dirname(from), spec);
  for (const candidate of [target.replace(/\.js$/, ".ts"), target, join(target, "index.ts")]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"'\n]*)\1/g;

interface Edge {
  file: string; // relative to the project root
  spec: string;
  from: string;
  to: string;
}

function crossRoomImports(): { edges: Edge[]; problems: string[] } {
  const edges: Edge[] = [];
  const problems: string[] = [];
  for (const path of tsFiles(src)) {
    const file = relative(root, path).split(sep).join("/");
    const from = roomOf(path);
    for (const m of readFileSync(path, "utf8").matchAll(IMPORT_RE)) {
      const spec = m[2]!;
      const target = resolveSpecifier(path, spec);
      if (target === null) {
        problems.push(`${file}: import "${spec}" names no file`);
        continue;
      }
      if (relative(src, target).startsWith("..")) {
        problems.push(`${file}: import "${spec}" leaves src/`);
        continue;
      }
      const to = roomOf(target);
      if (to !== from) edges.push({ file, spec, from, to });
    }
  }
  return { edges, problems };
}

describe("import direction in src/", () => {
  const { edges, problems } = crossRoomImports();

  it("every relative import names a file inside src/", () => {
    assert.deepEqual(problems, []);
  });

  it("every room of src/ is placed in ROOMS", () => {
    const rooms = [...new Set(tsFiles(src).map(roomOf))].sort();
    const unplaced = rooms.filter((r) => !ROOMS.includes(r));
    assert.deepEqual(unplaced, [], `rooms missing from ROOMS in ${relative(root, import.meta.filename)}`);
    assert.equal(new Set(ROOMS).size, ROOMS.length, "a room is listed twice");
  });

  it("sees the imports between rooms (the expression still matches the code)", () => {
    assert.ok(edges.some((e) => e.from === "client/" && e.to === "gen/"));
    assert.ok(edges.some((e) => e.from === "main.ts" && e.to === "commands/"));
  });

  it("no room imports a room above it", () => {
    const rank = (r: string) => ROOMS.indexOf(r);
    const isException = (e: Edge) => EXCEPTIONS.some((x) => x.file === e.file && x.import === e.spec);
    const upward = edges
      .filter((e) => rank(e.to) > rank(e.from) && !isException(e))
      .map((e) => `${e.file} imports "${e.spec}": ${e.from} -> ${e.to}, a room above it`);
    assert.deepEqual(upward, [], "imports against the room order (ROOMS, bottom first)");
  });

  it("gen/ and commands/ are imported only by the rooms named in ONLY_IMPORTED_BY", () => {
    const others = edges
      .filter((e) => e.to in ONLY_IMPORTED_BY && !ONLY_IMPORTED_BY[e.to]!.includes(e.from))
      .map((e) => `${e.file} imports "${e.spec}": only ${ONLY_IMPORTED_BY[e.to]!.join(", ")} may import ${e.to}`);
    assert.deepEqual(others, []);
  });

  it("every exception still matches an import", () => {
    const stale = EXCEPTIONS.filter((x) => !edges.some((e) => e.file === x.file && e.spec === x.import));
    assert.deepEqual(stale, []);
  });
});
