// projhead as another project gets it: `npm pack` (prepack builds dist/), the tarball installed
// into a fresh project outside this repository (dependencies from the registry or npm's cache),
// a TypeScript consumer type-checked against the installed types (a misspelt name must fail),
// the library's "environment missing" error, `npx projhead setup` into a private cache folder
// (packages from uv's cache), and a tiny run through the library with onEvent and an
// AbortSignal that cancels it after the first epoch.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { execa } from "execa";
import { ROOT } from "../helpers/cli.js";
import { TINY } from "../helpers/runs.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-installed-"));
const app = join(tmp, "app");
const home = join(tmp, "projhead-home"); // PROJHEAD_HOME: uv and the environment, private to the test
after(() => rmSync(tmp, { recursive: true, force: true }));

const times: Record<string, number> = {};
async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    times[what] = (Date.now() - t0) / 1000;
  }
}

// The app's environment: nothing of this repository's (no PROJHEAD_PYTHON, no NODE_PATH).
const env: Record<string, string | undefined> = { PROJHEAD_HOME: home, PROJHEAD_PYTHON: undefined, NODE_PATH: undefined, npm_config_audit: "false", npm_config_fund: "false" };
const inApp = (file: string, args: string[], opts: { reject?: boolean } = {}) =>
  execa(file, args, { cwd: app, env, extendEnv: true, reject: opts.reject ?? true, all: true });

const consumer = `import { resolveExperiment, runExperiment, watchRun, WorkerStartError, type EventRecord, type RunSummary } from "projhead";

const exp = resolveExperiment(${JSON.stringify({ ...TINY, name: "consumer", train: { ...TINY.train, epochs: 30, knnEveryEpochs: 1, checkpointEverySteps: 0 } })});
const abort = new AbortController();
const seen: EventRecord[] = [];
let lastLoss = Number.NaN;
try {
  const summary: RunSummary = await runExperiment(exp, {
    runsRoot: "runs",
    runId: "consumer",
    signal: abort.signal,
    onEvent: (ev) => {
      seen.push(ev);
      if (ev.type === "step") lastLoss = ev.data.loss; // narrowed by type: no cast
      if (ev.type === "epoch" && ev.data.epoch === 1) abort.abort();
    },
  });
  console.log(JSON.stringify({ state: summary.state, steps: summary.steps, lastLoss, types: seen.map((e) => e.type), epochs: seen.flatMap((e) => (e.type === "epoch" ? [e.data.epoch] : [])) }));
} catch (err) {
  if (err instanceof WorkerStartError) {
    console.error(err.message);
    process.exit(3);
  }
  throw err;
}

// The async-iterator form type-checks too (not run here).
export async function iterate(): Promise<number> {
  let n = 0;
  for await (const ev of watchRun(exp, { signal: abort.signal })) if (ev.type === "epoch") n += ev.data.knnTop1;
  return n;
}
`;

const tsconfig = (files: string[]) =>
  JSON.stringify({
    compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "dist", types: ["node"], skipLibCheck: true },
    files,
  });

const tsc = (project: string) => inApp(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", project], { reject: false });

describe("the packed package, installed in a fresh project", () => {
  it("packs, installs, type-checks, sets up its worker and runs a cancellable experiment", { timeout: 900_000 }, async () => {
    // 1. npm pack: prepack rebuilds dist/
    const pack = await timed("npm pack (prepack build)", () =>
      execa("npm", ["pack", "--json", "--pack-destination", tmp], { cwd: ROOT, env: { npm_config_loglevel: "error" } }),
    );
    const tarball = join(tmp, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);
    assert.ok(existsSync(tarball));
    assert.ok(existsSync(join(ROOT, "dist/index.js")), "prepack left a build behind");

    // 2. a fresh project, outside the repository: the tarball + @types/node from the registry (or cache)
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer-app", private: true, type: "module" }));
    const typesNode = (JSON.parse(readFileSync(join(ROOT, "node_modules/@types/node/package.json"), "utf8")) as { version: string }).version;
    await timed("npm install", () => inApp("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball, `@types/node@${typesNode}`]));
    const installed = join(app, "node_modules/projhead");
    assert.ok(existsSync(join(installed, "dist/index.d.ts")));
    assert.ok(!existsSync(join(installed, "node_modules")), "dependencies are hoisted, none bundled");
    for (const dev of ["test", "src", "scripts", "python_worker/tests", "python_worker/.venv", ".tools"]) {
      assert.ok(!existsSync(join(installed, dev)), `${dev} is not shipped`);
    }

    // 3. the consumer type-checks against the installed types; a misspelt method does not (one
    // tsc run over both: errors only in misspelt.ts, consumer.js still emitted)
    writeFileSync(join(app, "consumer.ts"), consumer);
    writeFileSync(join(app, "misspelt.ts"), `import { resolveExperiment, runExperimnt } from "projhead";\nvoid runExperimnt(resolveExperiment({ name: "x" }), { signal: new AbortController().signal });\n`);
    writeFileSync(join(app, "tsconfig.json"), tsconfig(["consumer.ts", "misspelt.ts"]));
    const checked = await timed("tsc", () => tsc("tsconfig.json"));
    const errors = String(checked.all).split("\n").filter((l) => /error TS\d+/.test(l));
    assert.ok(errors.length >= 1, `the misspelt name is an error: ${checked.all}`);
    assert.deepEqual(errors.filter((l) => !l.startsWith("misspelt.ts")), [], "the consumer type-checks");
    assert.match(errors.join("\n"), /'runExperimnt'.*Did you mean 'runExperiment'/);
    assert.ok(existsSync(join(app, "dist/consumer.js")));

    // 4. before setup the library says exactly what to run here
    const missing = await inApp(process.execPath, ["dist/consumer.js"], { reject: false });
    assert.equal(missing.exitCode, 3, missing.all);
    assert.match(String(missing.all), /Python environment is missing \(.*projhead-home.*\); run `npx projhead setup`/);

    // 5. npx projhead setup: uv pinned, the environment keyed by the lockfile's hash
    const setup = await timed("npx projhead setup", () => inApp("npx", ["--no-install", "projhead", "setup", "--no-compile", "--json"]));
    const r = JSON.parse(setup.stdout.trim().split("\n").pop()!) as { envDir: string; python: string; created: boolean; default: boolean };
    assert.equal(r.created, true);
    assert.equal(r.default, true);
    assert.ok(r.envDir.startsWith(join(home, "envs")), r.envDir);
    assert.ok(!r.envDir.includes("node_modules"));
    assert.match(String(setup.stderr), /creating the worker's Python environment/);
    const again = await timed("npx projhead setup (again)", () => inApp("npx", ["--no-install", "projhead", "setup", "--json"]));
    assert.equal((JSON.parse(again.stdout.trim().split("\n").pop()!) as { created: boolean }).created, false, "idempotent");
    assert.deepEqual(readdirSync(join(installed, "python_worker")).filter((f) => f === ".venv" || f.endsWith(".egg-info")), [], "nothing written into node_modules");

    // 6. the run: onEvent sees typed events, the signal cancels it after the first epoch
    const run = await timed("tiny run, cancelled after epoch 1", () => inApp(process.execPath, ["dist/consumer.js"]));
    const out = JSON.parse(run.stdout.trim().split("\n").pop()!) as { state: string; steps: number; lastLoss: number; types: string[]; epochs: number[] };
    assert.equal(out.state, "cancelled");
    assert.equal(out.types[0], "started");
    assert.equal(out.types.at(-1), "cancelled");
    assert.equal(out.epochs[0], 1);
    assert.ok(out.epochs.length < 30, "stopped early");
    assert.ok(Number.isFinite(out.lastLoss) && out.steps >= 8, JSON.stringify(out));
    const spec = JSON.parse(readFileSync(join(app, "runs/consumer/spec.json"), "utf8")) as { spec: { train: { precision: string } } };
    assert.equal(spec.spec.train.precision, "PRECISION_FP32", "spec.json holds enums by name");
    console.log(`installed-package timings (s): ${JSON.stringify(times)}`);
  });
});

// keep the repo's own build usable for whatever runs next (prepack replaced dist/)
after(() => {
  if (!existsSync(join(ROOT, "dist/main.js"))) execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: ROOT });
});
