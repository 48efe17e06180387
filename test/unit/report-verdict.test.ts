// What makes a verdict a reviewer accepts (issue 20), each against hand-computed values: Holm's
// adjustment, the paired t-test's p and the minimum detectable effect, no verdict without spread,
// seeds counted once and unmatched ones named, groups keyed by the resolved spec, the floors,
// older evaluations flagged, the protocol file and its git revision.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { buildReport, ReportInputError, type ReportResult } from "../../src/report/index.js";
import { parseProtocol } from "../../src/report/protocol.js";
import { holm, mde, pairedDifference, pairedP, seedsNeeded, tQuantile } from "../../src/report/stats.js";
import { ROOT } from "../helpers/cli.js";
import { ALL, FIXTURE_REVISION, STUDY_RUNS, writeRun, writeStudy, type FixtureRun } from "../helpers/report-fixtures.js";

function close(actual: number | null | undefined, expected: number, eps = 1e-9) {
  assert.ok(actual !== null && actual !== undefined, `expected ${expected}, got ${actual}`);
  assert.ok(Math.abs(actual - expected) < eps, `expected ${expected}, got ${actual}`);
}

const seeds = (...v: number[]) => v.map((value, i) => ({ seed: i, value }));
const block = (r: ReportResult, title: string) => r.text.split("\n\n").find((b) => b.startsWith(title)) ?? "";
const line = (text: string, start: string) => text.split("\n").find((l) => l.startsWith(start)) ?? "";

const dirs: string[] = [];
async function tmp(name: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `projhead-verdict-${name}-`));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Runs written under a fresh root; the report of its runs folder. */
async function reportOf(name: string, runs: FixtureRun[], opts: Parameters<typeof buildReport>[1] = {}): Promise<ReportResult> {
  const root = await tmp(name);
  for (const r of runs) await writeRun(root, r);
  return buildReport([join(root, "runs")], { html: false, color: false, ...opts });
}

const run = (id: string, method: string, seed: number, linearH: number, extra: Partial<FixtureRun> = {}): FixtureRun => ({
  id, method, seed, state: "finished", linearH, layers: ["h"], ...extra,
});

describe("paired t-test, MDE and Holm", () => {
  test("Holm's step-down adjustment of a hand-worked family", () => {
    // m = 4 (null is no test): sorted 0.005, 0.01, 0.03, 0.04 → 4·0.005 = 0.02, 3·0.01 = 0.03,
    // 2·0.03 = 0.06, max(0.06, 1·0.04) = 0.06.
    const adj = holm([0.01, 0.04, 0.03, null, 0.005]);
    assert.equal(adj[3], null);
    [0.03, 0.06, 0.06, null, 0.02].forEach((e, i) => (e === null ? assert.equal(adj[i], null) : close(adj[i], e, 1e-12)));
    close(holm([0.6, 0.7])[1], 1, 1e-12); // capped at 1
    assert.deepEqual(holm([]), []);
  });

  test("p of the paired t-test: closed forms at 1 and 2 degrees of freedom", () => {
    // df 2: P(|T| > t) = 1 − t/√(t² + 2); df 1: 1 − 2·atan(t)/π.
    close(pairedP(2, 1, 3), 1 - (2 * Math.sqrt(3)) / Math.sqrt(14), 1e-9);
    close(pairedP(-9.5, Math.SQRT1_2, 2), 1 - (2 * Math.atan(19)) / Math.PI, 1e-9);
    const p = pairedDifference(seeds(1, 2, 3), "higher")!;
    close(p.p, 1 - (2 * Math.sqrt(3)) / Math.sqrt(14), 1e-9);
  });

  test("MDE = (t(0.975, n − 1) + t(0.8, n − 1)) · s / √n, and the seeds a δ needs", () => {
    // t(0.8, 2) solves t/√(t² + 2) = 0.6: t = √1.125.
    close(tQuantile(0.8, 2), Math.sqrt(1.125), 1e-7);
    close(mde(1, 3), (4.302652729749464 + Math.sqrt(1.125)) / Math.sqrt(3), 1e-7);
    // DESIGN §10: s = 0.8 points gives about 2.4 at n = 3 and 1.3 at n = 5.
    close(mde(0.8, 3), 2.477, 1e-3);
    close(mde(0.8, 5), 1.330, 1e-3);
    assert.equal(mde(1, 1), null);
    // sd 1, δ 1: n = 9 gives (2.3060 + 0.8889)/3 = 1.065 > 1, n = 10 gives (2.2622 + 0.8830)/√10 = 0.995.
    assert.equal(seedsNeeded(1, 1), 10);
    // sd 1/√3 (differences 5, 4, 4), δ 1: n = 4 gives 4.161/(2√3) = 1.201, n = 5: 3.717/√15 = 0.960.
    assert.equal(seedsNeeded(Math.sqrt(1 / 3), 1), 5);
    assert.equal(seedsNeeded(1, 0), null);
    assert.equal(seedsNeeded(1000, 0.001), null, "beyond the search: null, not a loop");
  });

  test("identical per-seed differences decide nothing (no spread), whatever their sign", () => {
    // Today's code: a zero-width interval [1, 1] lies above 0 and read "better".
    for (const v of [1, -1, 0]) {
      const p = pairedDifference(seeds(v, v, v), "higher")!;
      assert.equal(p.verdict, "cannot decide (no spread)", String(v));
      assert.equal(p.p, null);
      assert.equal(p.mde, null);
    }
    assert.equal(pairedDifference(seeds(1, 1, 1), null)!.verdict, "cannot decide (no spread)");
  });
});

describe("pairing", () => {
  test("a primary comparison of identical differences: cannot decide, in the table and --json", async () => {
    const r = await reportOf("nospread", [1, 2, 3].flatMap((s) => [run(`j${s}`, "joint", s, 0.8 + 0.01 * s), run(`b${s}`, "bilevel", s, 0.81 + 0.01 * s)]));
    const cell = r.json.comparisons[0]!.layers[0]!.metrics.linearTop1!;
    assert.equal(cell.role, "primary");
    assert.equal(cell.verdict, "cannot decide (no spread)");
    assert.equal(cell.ciVerdict, "cannot decide (no spread)");
    assert.match(line(block(r, "Primary comparison"), "bilevel "), /\+1\.0\s+\[\+1\.0, \+1\.0\]\s+-\s+-\s+-\s+cannot decide \(no spread\)$/);
  });

  test("duplicate seeds count once and are named; unmatched seeds are named", async () => {
    const r = await reportOf("dupes", [
      ...[1, 2, 3].map((s) => run(`j${s}`, "joint", s, 0.8 + 0.01 * s)),
      run("b1", "bilevel", 1, 0.83),
      run("b1-again", "bilevel", 1, 0.9), // the same seed run twice: one experiment, not two
      run("b2", "bilevel", 2, 0.83),
      run("b4", "bilevel", 4, 0.83), // no joint seed 4
    ]);
    const g = r.aggregate.groups.find((x) => x.method === "bilevel")!;
    assert.deepEqual(g.seeds, [1, 2, 4]);
    assert.deepEqual(g.duplicateSeeds, [{ seed: 1, runIds: ["b1", "b1-again"], kept: "b1" }]);
    assert.equal(g.layers[0]!.stats.linearTop1!.n, 3, "three seeds, not four runs");
    const c = r.aggregate.comparisons[0]!;
    assert.deepEqual(c.pairs.map((p) => [p.seed, p.runId]), [[1, "b1"], [2, "b2"]]);
    assert.deepEqual(c.unmatched, [
      { seed: 3, side: "baseline", runId: "j3" },
      { seed: 4, side: "method", runId: "b4" },
    ]);
    // Differences of the kept runs only: 0.83 − 0.81 = 2, 0.83 − 0.82 = 1 point.
    const h = c.layers[0]!.metrics.linearTop1!;
    assert.deepEqual(h.diffs.map((d) => Math.round(d.value * 1000)), [20, 10]);
    const seedsBlock = block(r, "Seeds not counted as they stand");
    assert.match(line(seedsBlock, "bilevel "), /1\s+b1, b1-again\s+duplicate seed \(pseudo-replication\): counted once, as b1$/);
    assert.match(seedsBlock, /bilevel\s+3\s+j3\s+joint run without a bilevel partner: not paired/);
    assert.match(seedsBlock, /bilevel\s+4\s+b4\s+no joint run with this seed: not paired/);
  });

  test("a paired seed whose evaluation is missing on one side is named per cell", async () => {
    const r = await reportOf("missing", [
      ...[1, 2, 3].map((s) => run(`j${s}`, "joint", s, 0.8)),
      ...[1, 2].map((s) => run(`b${s}`, "bilevel", s, 0.82)),
      { id: "b3", method: "bilevel", seed: 3, state: "failed" },
    ]);
    assert.deepEqual(r.aggregate.comparisons[0]!.layers[0]!.missingSeeds.linearTop1, [3]);
    assert.match(block(r, "Seeds not counted"), /bilevel\s+3\s+linearTop1 at h: no value on one side, left out of that cell/);
  });
});

describe("groups by the resolved spec", () => {
  test("runs of two base files with the same overrides are two groups, labelled by what differs", async () => {
    const wd = { "optim.weightDecay": 0.0001 };
    const r = await reportOf("bases", [
      run("a1", "joint", 1, 0.8),
      run("a2", "joint", 2, 0.82),
      run("b1", "joint", 1, 0.7, { spec: wd }),
      run("b2", "joint", 2, 0.72, { spec: wd }),
      // A joint run's spec carries bilevel's options too: they neither split nor label joint.
      run("a3", "joint", 3, 0.84, { spec: { "method.bilevel.headLr": 0.5 } }),
    ]);
    // Keyed by the overrides alone (today) these five were one group of mean 77.6.
    assert.deepEqual(r.aggregate.groups.map((g) => [g.label, g.runIds]), [
      ["joint", ["a1", "a2", "a3"]],
      ["joint (weightDecay=0.0001)", ["b1", "b2"]],
    ]);
    close(r.aggregate.groups[1]!.layers[0]!.stats.linearTop1!.mean, 0.71, 1e-12);
  });
});

describe("a matched control", () => {
  test("a method's group pairs with the baseline group whose own options match by name and value", async () => {
    const hl = (method: string, lr: number) => ({ spec: { [`method.${method}.headLr`]: lr } });
    const runs = [1, 2].flatMap((s) => [
      run(`j${s}`, "joint", s, 0.8),
      run(`jm${s}`, "joint", s, 0.81, hl("joint", 0.03)),
      run(`b${s}`, "bilevel", s, 0.82, hl("bilevel", 0.03)),
      run(`c${s}`, "bilevel", s, 0.83, hl("bilevel", 0.003)),
    ]);
    const r = await reportOf("matched", runs);
    const vs = Object.fromEntries(r.aggregate.comparisons.map((c) => [c.label, c.baselineLabel]));
    assert.deepEqual(vs, { "bilevel (headLr=0.003)": "joint", "bilevel (headLr=0.03)": "joint (headLr=0.03)" });
  });
});

describe("floors and validation", () => {
  let r: ReportResult;
  before(async () => {
    const root = await tmp("floors");
    r = await buildReport([await writeStudy(root)], { html: false, color: false });
  });

  test("pixels and h@init per group, and the SSL gain over each", () => {
    const joint = r.aggregate.groups[0]!;
    assert.deepEqual(joint.floors.map((f) => f.layer), ["pixels", "h@init"]);
    const [pixels, init] = joint.floors;
    close(pixels!.stats.linearTop1!.mean, 0.78, 1e-12);
    // h − pixels of joint seeds 1-3: 2, 4, 6 points: 4 ± 4.303 · 2/√3 = [−0.97, +8.97].
    const g = pixels!.gain.linearTop1!;
    close(g.mean, 0.04, 1e-12);
    close(g.ci!.half, (4.302652729749464 * 0.02) / Math.sqrt(3), 1e-9);
    assert.equal(g.verdict, "no difference shown");
    // h − h@init: 0.80 − 0.51, 0.82 − 0.52, 0.84 − 0.53 = 29, 30, 31 points.
    close(init!.gain.linearTop1!.mean, 0.3, 1e-12);
    assert.equal(init!.gain.linearTop1!.verdict, "better");
    assert.match(line(block(r, "Floors: raw pixels"), "joint "), /^joint\s+3\s+78\.0 ± 0\.0\s+72\.0 ± 0\.0\s+52\.0 ± 1\.0\s+30\.0 ± 0\.0\s+82\.0 ± 2\.0\s+77\.0 ± 2\.0$/);
    assert.match(line(block(r, "SSL gain at h over the floors"), "joint "), /^joint\s+3\s+\+4\.0 \[-1\.0, \+9\.0\]\s+\+5\.0 \[0\.0, \+10\.0\]\s+\+30\.0 \[\+27\.5, \+32\.5\]\s+\+47\.0 \[\+42\.0, \+52\.0\]$/);
    const back = JSON.parse(JSON.stringify(r.json)) as typeof r.json;
    close(back.groups[0]!.floors[1]!.gain.knnTop1!.mean, 0.47, 1e-12);
    assert.deepEqual(back.runs.find((x) => x.runId === "study-joint-s1")!.baselines.map((b) => b.layer), ["pixels", "h@init"]);
  });

  test("the validation split's linear probe: a table and --json", () => {
    // The fixture's validation top-1 is the test value + 1 point: joint h 81, 83, 85.
    close(r.aggregate.groups[0]!.layers[0]!.stats.linearValTop1!.mean, 0.83, 1e-12);
    assert.match(line(block(r, "Validation (selection split)"), "joint "), /^joint\s+3\s+83\.0 ± 2\.0 \[78\.0, 88\.0\]/);
    const j1 = r.json.runs.find((x) => x.runId === "study-joint-s1")!;
    close(j1.layers.find((l) => l.layer === "h")!.linearValTop1, 0.81, 1e-12);
    assert.equal(j1.evalFormatVersion, 2);
  });
});

describe("the kNN settings", () => {
  test("the kNN table names the k and τ the evaluations recorded, all of them when they differ", async () => {
    const old = await reportOf("knn-old", [run("o1", "joint", 1, 0.8, { oldEval: true })]);
    assert.match(old.text, /^kNN top-1 \(%\), k=200$/m, "runs from before the protocol was recorded: k = 200");
    const root = await tmp("knn-mixed");
    await writeRun(root, run("a", "joint", 1, 0.8));
    await writeRun(root, run("b", "joint", 2, 0.8));
    const evalPath = join(root, "runs", "b", "eval.json");
    const rec = JSON.parse(await readFile(evalPath, "utf8")) as { protocol: { knnK: number } };
    rec.protocol.knnK = 20;
    await writeFile(evalPath, JSON.stringify(rec));
    const r = await buildReport([join(root, "runs")], { html: false, color: false });
    assert.match(r.text, /^kNN top-1 \(%\), settings differ between runs: k=20, τ=0\.1 \/ k=200, τ=0\.1$/m);
  });
});

describe("older evaluations are flagged, not trusted", () => {
  test("no probeConverged, no protocol, no rankDefinition: †, ‡ and § with their footnotes", async () => {
    const r = await reportOf("old", [
      run("old-j1", "joint", 1, 0.8, { oldEval: true, layers: ALL }),
      run("new-j2", "joint", 2, 0.82, { layers: ALL }),
      run("old-b1", "bilevel", 1, 0.83, { oldEval: true, layers: ALL }),
      run("new-b2", "bilevel", 2, 0.86, { layers: ALL }),
    ]);
    const h = r.aggregate.groups[0]!.layers[0]!;
    assert.deepEqual([h.probeUnconverged, h.probeUnknown, h.probeL2Fixed, h.rankUnknown], [0, 1, 1, 1]);
    const lin = block(r, "Linear probe top-1");
    assert.match(line(lin, "joint "), /81\.0 ± 1\.4 \[68\.3, 93\.7\]†‡\s/);
    assert.match(lin, /† probe convergence unknown/);
    assert.match(lin, /‡ probe L2 fixed \(no validation selection\)/);
    const er = block(r, "Effective rank (RankMe)");
    assert.match(line(er, "joint "), /\]§\s/);
    assert.match(er, /§ old\/unknown rank definition/);
    assert.doesNotMatch(block(r, "kNN top-1"), /[†‡§]/);
    assert.equal(r.json.runs.find((x) => x.runId === "old-j1")!.evalFormatVersion, 1);
    // The paired cells built on them carry the same marks: differences 3 and 4 points.
    const cell = r.aggregate.comparisons[0]!.layers[0]!.metrics;
    assert.deepEqual(cell.linearTop1!.flags, ["probeUnknown", "probeL2Fixed"]);
    assert.deepEqual(cell.knnTop1!.flags, []);
    assert.deepEqual(cell.effectiveRank!.flags, ["rankUnknown"]);
    const primary = block(r, "Primary comparison");
    assert.match(line(primary, "bilevel "), /\s\+3\.5†‡\s/);
    assert.match(primary, /† probe convergence unknown/);
    assert.doesNotMatch(block(r, "Paired difference to joint (same seed): kNN"), /[†‡§]/);
  });
});

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd, encoding: "utf8" }).trim();
}

const PROTOCOL = `name: verdict-2
primary: { method: bilevel, baseline: joint, metric: linear, layer: h }
delta: 1.0
alpha: 0.05
power: 0.8
selection: { split: validation, metric: linearVal, layer: h }
seeds: { screening: [0], finals: [1, 2, 3, 4, 5] }
`;

describe("protocol file and code revision", () => {
  let repo: string;
  let file: string;
  let commit: string;
  before(async () => {
    repo = await tmp("protocol");
    git(repo, "init", "-q");
    file = join(repo, "protocol.yaml");
    await writeFile(file, PROTOCOL);
    git(repo, "add", "protocol.yaml");
    git(repo, "commit", "-q", "-m", "protocol");
    commit = git(repo, "rev-parse", "HEAD");
  });

  test("parsed with defaults; an unknown key is an error naming it and the known ones", () => {
    const p = parseProtocol("p.yaml", PROTOCOL);
    assert.deepEqual(p.primarySpec, { method: "bilevel", baseline: "joint", metric: "linearTop1", layer: "h" });
    assert.equal(parseProtocol("p.yaml", PROTOCOL.replace("alpha: 0.05\npower: 0.8\n", "")).alpha, 0.05);
    assert.throws(() => parseProtocol("p.yaml", PROTOCOL.replace("layer: h }", "layer: h, metrc: x }")), (e: unknown) => {
      assert.ok(e instanceof ReportInputError);
      assert.match(e.message, /p\.yaml: primary\.metrc: unknown key \(known: method, baseline, metric, layer\)/);
      return true;
    });
    assert.throws(() => parseProtocol("p.yaml", PROTOCOL.replace("metric: linear,", "metric: top5,")), /p\.yaml: primary\.metric/);
    assert.throws(() => parseProtocol("p.yaml", PROTOCOL.replace("delta: 1.0", "delta: 0")), /p\.yaml: delta/);
  });

  const runsAt = (rev: FixtureRun["codeRevision"], ids = "") =>
    [1, 2, 3].flatMap((s) => [
      run(`j${ids}${s}`, "joint", s, 0.8 + 0.01 * s, { codeRevision: rev }),
      run(`b${ids}${s}`, "bilevel", s, 0.8 + 0.012 * s + 0.01, { codeRevision: rev }),
    ]);

  test("runs at the protocol's revision: its name, revision, primary comparison and δ are printed", async () => {
    const r = await reportOf("at-rev", runsAt({ commit, dirty: false }), { protocol: file });
    const head = r.text.split("\n\n")[0]!;
    assert.match(head, new RegExp(`Protocol verdict-2: .*protocol\\.yaml at ${commit.slice(0, 12)}; primary bilevel − joint, linear probe at h; δ 1 points, α 0\\.05, power 0\\.8`));
    assert.match(head, /Selection: validation split, linearVal at h; seeds: screening 0, finals 1, 2, 3, 4, 5/);
    assert.match(head, new RegExp(`Code revision: ${commit.slice(0, 12)} \\(6 run\\(s\\)\\)`));
    assert.equal(r.json.protocol!.revision, commit);
    assert.equal(r.json.delta, 1, "the protocol's δ plans the seeds");
    assert.match(block(r, "Primary comparison"), /seeds for δ=1/);
    // A run that wrote its commit abbreviated is the same revision.
    const short = await reportOf("short-rev", runsAt({ commit: commit.slice(0, 10), dirty: false }), { protocol: file });
    assert.equal(short.json.families.primary, 1);
    // Against another baseline than the protocol's, nothing is primary, and the report says so.
    const other = await reportOf("other-base", runsAt({ commit, dirty: false }), { protocol: file, baseline: "bilevel" });
    assert.ok(other.data.warnings.some((w) => /primary comparison is against joint; compared with bilevel, every cell is exploratory/.test(w)));
    assert.equal(other.json.families.primary, 0);
  });

  test("runs of another revision, dirty or unrecorded: refused (exit 2) naming them, unless allowed", async () => {
    const root = await tmp("mismatch");
    const runs = [...runsAt({ commit, dirty: false }), run("j-dirty", "joint", 4, 0.8, { codeRevision: { commit, dirty: true } }), run("b-old", "bilevel", 4, 0.8, { codeRevision: null }), run("b-other", "bilevel", 5, 0.8, { codeRevision: FIXTURE_REVISION })];
    for (const x of runs) await writeRun(root, x);
    const dir = join(root, "runs");
    await assert.rejects(buildReport([dir], { html: false, protocol: file }), (e: unknown) => {
      assert.ok(e instanceof ReportInputError);
      assert.match(e.message, new RegExp(`3 run\\(s\\) not at the protocol's revision ${commit.slice(0, 12)}`));
      assert.match(e.message, /1 run\(s\) at unknown \(not recorded\): b-old/);
      assert.match(e.message, new RegExp(`1 run\\(s\\) at ${commit.slice(0, 12)} \\(dirty\\): j-dirty`));
      assert.match(e.message, /1 run\(s\) at 0123456789ab: b-other/);
      assert.match(e.message, /--allow-revision-mismatch/);
      return true;
    });
    const ok = await buildReport([dir], { html: false, color: false, protocol: file, allowRevisionMismatch: true });
    assert.ok(ok.data.warnings.some((w) => /3 run\(s\) not at the protocol's revision/.test(w)));
    const cli = await execa(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), "report", "--no-html", "--protocol", file, dir], { cwd: ROOT, reject: false });
    assert.equal(cli.exitCode, 2, String(cli.stderr));
    assert.match(String(cli.stderr), /b-old/);
  });

  test("a protocol that is not committed, or changed since, is refused", async () => {
    const loose = join(repo, "loose.yaml");
    await writeFile(loose, PROTOCOL);
    const runs = runsAt({ commit, dirty: false }, "x");
    await assert.rejects(reportOf("loose", runs, { protocol: loose }), /loose\.yaml: not committed/);
    await writeFile(file, PROTOCOL.replace("delta: 1.0", "delta: 0.5"));
    try {
      await assert.rejects(reportOf("dirty", runs, { protocol: file }), /protocol\.yaml: has uncommitted changes/);
    } finally {
      await writeFile(file, PROTOCOL);
    }
  });

  test("without a protocol: the runs' revisions are printed, and more than one is a warning", async () => {
    const r = await reportOf("revs", [...runsAt({ commit, dirty: false }), run("b-old", "bilevel", 4, 0.8, { codeRevision: null })]);
    assert.match(r.text, new RegExp(`Code revisions: ${commit.slice(0, 12)} \\(6 run\\(s\\)\\), unknown \\(not recorded\\) \\(1 run\\(s\\)\\)`));
    assert.ok(r.data.warnings.some((w) => w.startsWith("runs of 2 code revisions") && w.includes("b-old")));
    assert.match(r.text, /No protocol \(--protocol\): primary comparison by default bilevel − joint, linear probe at h/);
  });
});

describe("report --mde", () => {
  test("prints the seeds each cell needs for δ; a δ that is not above 0 is exit 2", { timeout: 60_000 }, async () => {
    const root = await tmp("mde");
    const sweep = await writeStudy(root, STUDY_RUNS.filter((r) => r.method === "joint" || r.method === "bilevel"));
    const cli = (...args: string[]) => execa(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), "report", "--no-html", ...args, sweep], { cwd: ROOT, reject: false });
    const r = await cli("--mde", "1");
    assert.equal(r.exitCode, 0, String(r.stderr));
    const primary = String(r.stdout).split("\n\n").find((b) => b.startsWith("Primary comparison"))!;
    assert.match(primary.split("\n")[1]!, /MDE\s+seeds for δ=1\s+p/);
    // K=5: sd 1 point → 10 seeds (see above); K=1: sd 1/√3 → 5.
    assert.match(line(primary, "bilevel (innerSteps=5) "), /\s3\.1\s+10\s+0\.074/);
    assert.match(line(primary, "bilevel (innerSteps=1) "), /\s1\.8\s+5\s+0\.006/);
    const bad = await cli("--mde", "0");
    assert.equal(bad.exitCode, 2);
    assert.match(String(bad.stderr), /--mde 0: expected an effect size in percentage points above 0/);
  });
});
