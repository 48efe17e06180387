import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { existsSync } from "node:fs";
import { aggregate, compareLayers, layerStat, meanStd, type Comparison } from "../../src/report/aggregate.js";
import { chartSpecs } from "../../src/report/charts.js";
import { buildReport, ReportInputError, type ReportResult } from "../../src/report/index.js";
import { downsample, loadReportData, loadRun } from "../../src/report/load.js";
import { pairedDifference, tQuantile } from "../../src/report/stats.js";
import { computeTable, dynamicsTable, fmtDuration, fmtSigned, fmtStat, MAX_DYNAMICS_ROWS, renderTextTable } from "../../src/report/table.js";
import { resolveExperiment, ExperimentError } from "../../src/experiment/index.js";
import { execa } from "execa";
import { ROOT } from "../helpers/cli.js";
import { ALL, dynamicsValue, initialKnn, STUDY_RUNS, writeRun, writeStudy } from "../helpers/report-fixtures.js";

let root: string;
let sweepDir: string;
let report: ReportResult;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "projhead-report-"));
  sweepDir = await writeStudy(root);
  report = await buildReport([sweepDir], { color: false, now: new Date("2026-11-27T12:34:56Z") });
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function close(actual: number | null | undefined, expected: number, eps = 1e-9) {
  assert.ok(actual !== null && actual !== undefined, `expected ${expected}, got ${actual}`);
  assert.ok(Math.abs(actual - expected) < eps, `expected ${expected}, got ${actual}`);
}

// t(0.975, df) from statistical tables (R: qt(0.975, df)).
const T975: Record<number, number> = { 1: 12.706204736174707, 2: 4.302652729749464, 4: 2.7764451051977934, 9: 2.2621571627982053, 29: 2.045229642132703 };

describe("statistics over seeds", () => {
  test("t quantiles match the tables", () => {
    // jstat's inverse incomplete beta is good to ~2e-8 relative: far below any printed digit.
    for (const [df, t] of Object.entries(T975)) close(tQuantile(0.975, Number(df)), t, 1e-7 * t);
    close(tQuantile(0.5, 3), 0, 1e-9);
    assert.throws(() => tQuantile(0.975, 0), RangeError);
    assert.throws(() => tQuantile(1, 3), RangeError);
  });

  test("mean, sample std and the 95 % t-interval of the mean", () => {
    const s = meanStd([1, 2, 3, 4])!;
    close(s.mean, 2.5);
    close(s.std, Math.sqrt(5 / 3)); // sum of squares 5, n - 1 = 3
    assert.equal(s.n, 4);
    const half = (3.182446305284263 * Math.sqrt(5 / 3)) / 2; // t(0.975, 3) · s / √4
    close(s.ci!.half, half, 1e-9);
    close(s.ci!.lo, 2.5 - half, 1e-9);
    close(s.ci!.hi, 2.5 + half, 1e-9);
    assert.deepEqual(meanStd([0.7]), { mean: 0.7, std: null, n: 1, ci: null });
    assert.equal(meanStd([]), null);
    assert.equal(meanStd([Number.NaN]), null);
    assert.equal(meanStd([2, Number.NaN, 4])!.n, 2);
  });

  test("paired differences [1, 2, 3]: mean 2, CI 2 ± 4.303 · 1/√3, no difference shown", () => {
    const p = pairedDifference([1, 2, 3].map((value, i) => ({ seed: i, value })), "higher")!;
    close(p.mean, 2);
    close(p.std, 1);
    assert.equal(p.n, 3);
    const half = T975[2]! / Math.sqrt(3); // 2.4841...
    close(p.ci!.half, half, 1e-7);
    close(p.ci!.lo, 2 - half, 1e-7);
    close(p.ci!.hi, 2 + half, 1e-7);
    assert.equal(p.verdict, "no difference shown", "the interval [-0.48, 4.48] contains 0");
    assert.deepEqual(p.diffs.map((d) => d.value), [1, 2, 3]);
  });

  test("the verdict is read from the interval alone", () => {
    const d = (...v: number[]) => v.map((value, i) => ({ seed: i, value }));
    // [3, 4, 5]: 4 ± 2.48, clear of 0.
    assert.equal(pairedDifference(d(3, 4, 5), "higher")!.verdict, "better");
    assert.equal(pairedDifference(d(3, 4, 5), "lower")!.verdict, "worse", "alignment: higher is worse");
    assert.equal(pairedDifference(d(-3, -4, -5), "higher")!.verdict, "worse");
    assert.equal(pairedDifference(d(-3, -4, -5), "lower")!.verdict, "better");
    assert.equal(pairedDifference(d(3, 4, 5), null)!.verdict, "higher", "no direction: effective rank");
    assert.equal(pairedDifference(d(-3, -4, -5), null)!.verdict, "lower");
    // A large mean with a wide spread decides nothing; the mean alone never decides.
    assert.equal(pairedDifference(d(10, -1), "higher")!.verdict, "no difference shown");
    assert.equal(pairedDifference(d(0.5), "higher")!.verdict, "one seed cannot decide");
    assert.equal(pairedDifference(d(0.5), "higher")!.ci, null);
    assert.equal(pairedDifference([], "higher"), null);
    // No spread is no evidence (issue 20): a zero-width interval never decides, on either side of 0.
    assert.equal(pairedDifference(d(0, 0, 0), "higher")!.verdict, "cannot decide (no spread)");
  });

  test("signed formatting never prints -0.0", () => {
    assert.equal(fmtSigned(2, 1), "+2.0");
    assert.equal(fmtSigned(-1.25, 1), "-1.3");
    assert.equal(fmtSigned(-0.01, 1), "0.0");
    assert.equal(fmtSigned(0, 1), "0.0");
  });
});

describe("aggregation", () => {
  test("groups by method and non-seed overrides, in canonical method order", () => {
    assert.deepEqual(
      report.aggregate.groups.map((g) => g.label),
      [
        "joint",
        "bilevel (innerSteps=1)",
        "bilevel (innerSteps=5)",
        "no_head",
        "fixed_head",
        "directclr",
      ],
    );
    const joint = report.aggregate.groups[0]!;
    assert.deepEqual(joint.seeds, [1, 2, 3, 4]);
    assert.equal(joint.evaluated, 3); // the failed seed has no evaluation
  });

  test("per-layer mean ± std [95 % CI] over seeds", () => {
    const [joint, k1, k5] = report.aggregate.groups;
    const h = layerStat(joint!, "h", "linearTop1")!;
    close(h.mean, 0.82);
    close(h.std, 0.02);
    assert.equal(h.n, 3);
    close(h.ci!.half, (T975[2]! * 0.02) / Math.sqrt(3), 1e-9);
    close(layerStat(joint!, "z", "linearTop1")!.mean, 0.72);
    close(layerStat(k1!, "h", "linearTop1")!.mean, (0.85 + 0.86 + 0.88) / 3);
    close(layerStat(k5!, "h", "linearTop1")!.std, 0.03);
    close(layerStat(joint!, "z", "effectiveRank")!.mean, 4.2);
    // 82 ± 2, half-width 4.303 · 2 / √3 = 4.97
    assert.equal(fmtStat(h, 1, 100), "82.0 ± 2.0 [77.0, 87.0]");
    assert.equal(fmtStat(h, 1, 100, { ci: false }), "82.0 ± 2.0");
  });

  test("mean singular-value spectrum is element-wise over seeds", () => {
    const z = report.aggregate.groups[0]!.layers.find((l) => l.layer === "z")!;
    assert.equal(z.singularValues.length, 32);
    close(z.singularValues[0], 5);
    assert.equal(z.singularValues[31], 0);
  });

  test("a method keeps one colour; its variants keep the hue in other shades", () => {
    const g = report.aggregate.groups;
    assert.equal(g[0]!.color, "#1f77b4");
    assert.equal(g[1]!.color, "#d62728");
    assert.notEqual(g[2]!.color, g[1]!.color);
    assert.equal(new Set(g.map((x) => x.color)).size, g.length);
    // Same study loaded again (e.g. a subset) gives the same colour to the same method.
    const again = aggregate({ ...report.data, runs: report.data.runs.filter((r) => r.method === "no_head") });
    assert.equal(again.groups[0]!.color, g[3]!.color);
  });
});

describe("layer ordering", () => {
  test("h, head.1.., z, numerically", () => {
    assert.deepEqual(["z", "head.10", "h", "head.2", "head.1"].sort(compareLayers), ["h", "head.1", "head.2", "head.10", "z"]);
    assert.deepEqual(report.aggregate.layers, ["h", "head.1", "head.2", "z"]);
    // eval.json lists layers z first in the fixture; the group keeps backbone-to-z order.
    assert.deepEqual(report.aggregate.groups[0]!.layers.map((l) => l.layer), ["h", "head.1", "head.2", "z"]);
  });
});

describe("loading", () => {
  test("running and failed runs still show; missing sweep runs are reported", () => {
    const byId = new Map(report.data.runs.map((r) => [r.runId, r]));
    assert.equal(report.data.runs.length, 14);
    const running = byId.get("study-directclr-s1")!;
    assert.equal(running.state, "running");
    assert.equal(running.eval, null);
    assert.equal(running.epochs, 3);
    assert.equal(running.steps, 30);
    assert.ok(running.finalLoss !== null, "final loss falls back to the last step event");
    assert.equal(running.seed, 1, "seed read from the spec's uint64 string");
    assert.equal(byId.get("study-joint-s4")!.state, "failed");
    assert.match(byId.get("study-joint-s4")!.error ?? "", /NaN/);
    assert.ok(report.data.warnings.some((w) => w.includes("study-directclr-s2")));
    // The cut-off last line of a live run is expected, not a warning.
    assert.ok(!report.data.warnings.some((w) => w.includes("unparseable")));
  });

  test("evaluation events stand in for a missing eval.json", () => {
    const fixed = report.data.runs.find((r) => r.method === "fixed_head")!;
    assert.equal(fixed.evalSource, "events");
    assert.deepEqual(fixed.eval!.layers.map((l) => l.layer), ["h", "head.1", "z"]);
  });

  test("a run dir with only spec.json, and an empty dir", async () => {
    const d = join(root, "bare", "only-spec");
    await mkdir(d, { recursive: true });
    await writeFile(join(d, "spec.json"), JSON.stringify({ runId: "only-spec", experiment: "x", spec: { method: { name: "joint" } }, createdAt: "" }));
    const run = await loadRun(d);
    assert.equal(run!.state, "unknown");
    assert.equal(run!.method, "joint");
    assert.equal(run!.finalLoss, null);
    const empty = join(root, "bare", "empty");
    await mkdir(empty);
    assert.equal(await loadRun(empty), null);
    const data = await loadReportData([join(root, "bare")]);
    assert.deepEqual(data.runs.map((r) => r.runId), ["only-spec"]);
    const none = await loadReportData([empty]);
    assert.equal(none.runs.length, 0);
    assert.ok(none.warnings.some((w) => w.includes("no runs")));
  });

  test("a runs root and duplicate paths load each run once", async () => {
    const data = await loadReportData([join(root, "runs"), sweepDir, join(root, "runs", "study-joint-s1")]);
    assert.equal(data.runs.length, 14);
  });

  test("long loss curves are bucket-averaged, keeping the last step", () => {
    const pts = Array.from({ length: 5000 }, (_, i) => ({ step: i + 1, loss: 1 }));
    const d = downsample(pts, 2000);
    assert.equal(d.length, 2000);
    assert.equal(d.at(-1)!.step, 5000);
    assert.equal(d[0]!.loss, 1);
  });
});

describe("terminal tables", () => {
  test("method × layer linear probe table, aligned, no colour", () => {
    assert.ok(!report.text.includes("\x1b["), "no ANSI codes when color is false");
    const block = report.text.split("\n\n").find((b) => b.startsWith("Linear probe top-1 (%)"))!;
    const lines = block.split("\n");
    const header = lines[1]!;
    assert.match(header, /^method\s+n\s+h \(64\)\s+head\.1 \(64\)\s+head\.2 \(64\)\s+z \(32\)$/);
    const joint = lines.find((l) => l.startsWith("joint "))!;
    const cell = "82.0 ± 2.0 [77.0, 87.0]";
    assert.ok(joint.includes(cell), joint);
    // Right-aligned: the h column ends where its header ends.
    const hEnd = header.indexOf("h (64)") + "h (64)".length;
    assert.equal(joint.indexOf(cell) + cell.length, hEnd);
    // no_head's head layers are untrained: "—" with the footnote, never a number.
    const noHead = lines.find((l) => l.startsWith("no_head "))!;
    assert.match(noHead, /71\.5 ± 2\.1 \[52\.4, 90\.6\]\s+—\s+—\s+—$/);
    assert.ok(block.includes("— = head not trained by this method"), "footnote");
    const fixed = lines.find((l) => l.startsWith("fixed_head "))!;
    // Its evaluation came from events only: nothing records a validation-selected L2.
    assert.match(fixed, /78\.0‡\s+75\.0‡\s+-\s+68\.0‡$/, "single seed: no ± ; head.2 absent");
    // A probe that hit its iteration cap marks its cell.
    assert.match(lines.find((l) => l.startsWith("bilevel (innerSteps=5) "))!, /\]\s+\S.*\]\*$/);
    assert.doesNotMatch(joint, /\*/);
    assert.match(block, /\* the probe of at least one run stopped at its iteration cap/);
  });

  test("kNN table starts from the random-init baseline; effective rank is named RankMe", () => {
    // k and τ as the evaluations' protocol recorded them (the title said k=200 whatever ran).
    assert.match(report.text, /kNN top-1 \(%\), k=200, τ=0\.1\n/);
    const knn = report.text.split("\n\n").find((b) => b.startsWith("kNN top-1"))!;
    assert.match(knn.split("\n")[1]!, /^method\s+n\s+h@init\s+h \(64\)/);
    const joint = knn.split("\n").find((l) => l.startsWith("joint "))!;
    // h@init: joint seeds 1-3 (and the failed 4) start at 10.1 .. 10.4 %.
    const init = [1, 2, 3, 4].map(initialKnn);
    assert.ok(joint.includes(`${((init.reduce((a, b) => a + b) / 4) * 100).toFixed(1)} ± 0.1`), joint);
    assert.ok(joint.includes("77.0 ± 2.0"));
    assert.match(knn, /random initialisation/);
    const er = report.text.split("\n\n").find((b) => b.startsWith("Effective rank (RankMe)"))!;
    assert.ok(er.split("\n").find((l) => l.startsWith("joint "))!.includes("4.2 ± 0.1"));
    assert.match(er, /RankMe \(Garrido et al\. 2023\)/);
  });

  test("per-run table with state, final loss and kNN", () => {
    const block = report.text.split("\n\n").find((b) => b.startsWith("Runs"))!;
    const lines = block.split("\n");
    assert.match(lines[1]!, /^run\s+group\s+seed\s+state\s+epoch\s+step\s+final loss\s+init kNN %\s+kNN %\s+eval\s+wall\s+note$/);
    const run = report.data.runs.find((r) => r.runId === "study-joint-s2")!;
    const row = lines.find((l) => l.startsWith("study-joint-s2 "))!;
    assert.ok(row.includes(run.finalLoss!.toFixed(4)));
    assert.match(row, new RegExp(`${(initialKnn(2) * 100).toFixed(1)}\\s+${(run.knnTop1! * 100).toFixed(1)}`));
    // A running run has no summary: the baseline comes from its started event.
    const live = lines.find((l) => l.startsWith("study-directclr-s1 "))!;
    assert.match(live, /running\s+3\s+30\s+\S+\s+10\.1\s/);
    assert.ok(row.includes("1m 23s"));
    assert.match(lines.find((l) => l.startsWith("study-joint-s4 "))!, /failed.*non_finite_loss/);
    assert.match(lines.find((l) => l.startsWith("study-directclr-s1 "))!, /running/);
    // Rows follow group order: joint runs first, directclr last.
    assert.ok(lines[3]!.startsWith("study-joint-s1"));
    const rows = lines.filter((l) => l.startsWith("study-"));
    assert.ok(rows.at(-1)!.startsWith("study-directclr-s1"));
    assert.equal(rows.length, 14);
  });

  test("colour only when asked", () => {
    const t = { id: "t", title: "T", header: ["a", "b"], align: ["l", "r"] as ("l" | "r")[], rows: [[{ text: "x" }, { text: "1", best: true }]] };
    assert.ok(renderTextTable(t, true).includes("\x1b[1m"));
    assert.ok(!renderTextTable(t, false).includes("\x1b["));
  });
});

describe("HTML", () => {
  test("written atomically next to the sweep", async () => {
    assert.equal(report.htmlPath, join(sweepDir, "report.html"));
    const files = await readdir(sweepDir);
    assert.deepEqual(files.sort(), ["report.html", "sweep.json"]);
  });

  test("self-contained: inline chart.js, no remote script, inline data", async () => {
    const html = await readFile(report.htmlPath!, "utf8");
    assert.ok(html.includes("Chart.js v4"), "chart.js inlined");
    assert.doesNotMatch(html, /<script[^>]*\ssrc=/i);
    assert.doesNotMatch(html, /<link[^>]*href=["']?https?:/i);
    assert.doesNotMatch(html, /src=["']?https?:\/\//i);
    const m = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)!;
    const payload = JSON.parse(m[1]!) as { charts: { id: string }[]; report: { runs: unknown[] } };
    const ids = payload.charts.map((c) => c.id);
    const dyn = ["knnTop1", "effectiveRank", "alignment", "uniformity"].flatMap((m) => [0, 1, 2, 3, 4, 5].map((g) => `dyn-${m}-${g}`));
    assert.deepEqual(ids, [
      "layers-linear", "layers-knn", "layers-erank", "paired-linear", "paired-knn",
      ...dyn, "spectrum-h", "spectrum-z", "loss", "knn-monitor",
    ]);
    assert.equal(payload.report.runs.length, 14);
    for (const c of payload.charts) assert.ok(html.includes(`id="chart-${c.id}"`));
    assert.ok(html.includes("82.0 ± 2.0 [77.0, 87.0]"), "tables as HTML");
    for (const id of ["primary", "paired-linear", "paired-knn", "floors", "gains", "linear-val", "compute"]) {
      assert.ok(html.includes(`id="table-${id}"`), id);
    }
    assert.ok(html.includes("no difference shown") && html.includes("better") && html.includes("worse"));
    assert.ok(html.includes("2026-11-27 12:34 UTC"), "generation date in the header");
  });

  test("chart specs: percent scale, CI whiskers, layer ticks, no zeros on log axes", () => {
    const specs = chartSpecs(report.data, report.aggregate);
    const lin = specs.find((s) => s.id === "layers-linear")!;
    assert.deepEqual(lin.layers, ["h", "head.1", "head.2", "z"]);
    const joint = lin.config.data.datasets.find((d) => d.label === "joint")!;
    close(joint.data[0]!.y, 82);
    close(joint.errors![0], (T975[2]! * 2) / Math.sqrt(3), 1e-3); // 95 % half-width, not the std
    // Untrained layers are no points at all, not zeros.
    const noHead = lin.config.data.datasets.find((d) => d.label === "no_head")!;
    assert.deepEqual(noHead.data.slice(1).map((p) => p.y), [null, null, null]);
    const sz = specs.find((s) => s.id === "spectrum-z")!;
    assert.ok(sz.config.data.datasets.every((d) => d.data.every((p) => p.y === null || p.y > 0)));
    const loss = specs.find((s) => s.id === "loss")!;
    assert.equal(loss.config.data.datasets.length, 14);
  });

  test("the kNN monitor chart starts at epoch 0 with the random-init baseline", () => {
    const knn = chartSpecs(report.data, report.aggregate).find((s) => s.id === "knn-monitor")!;
    for (const d of knn.config.data.datasets) {
      assert.equal(d.data[0]!.x, 0, d.label);
      const seed = Number(/seed (\d+)/.exec(d.label)![1]);
      close(d.data[0]!.y, initialKnn(seed) * 100, 1e-3);
      assert.equal(d.data.filter((p) => p.x === 0).length, 1, "one point at epoch 0");
    }
  });

  test("paired-difference charts: CI whiskers per layer and a zero line", () => {
    const specs = chartSpecs(report.data, report.aggregate);
    const p = specs.find((s) => s.id === "paired-linear")!;
    assert.equal(p.format, "pp");
    const k5 = p.config.data.datasets.find((d) => d.label === "bilevel (innerSteps=5) − joint")!;
    close(k5.data[0]!.y, 2, 1e-3);
    close(k5.errors![0], T975[2]! / Math.sqrt(3), 1e-3);
    const fixed = p.config.data.datasets.find((d) => d.label.startsWith("fixed_head"))!;
    assert.equal(fixed.errors![0], null, "one seed: a point without whiskers");
    const zero = p.config.data.datasets.at(-1)!;
    assert.equal(zero.label, "0 = joint");
    assert.ok(zero.data.every((pt) => pt.y === 0));
  });

  test("dynamics panels: one per metric and group, one line per layer, shared y range", () => {
    const specs = chartSpecs(report.data, report.aggregate).filter((s) => s.kind === "dynamics");
    const knn = specs.filter((s) => s.metric === "knnTop1");
    assert.deepEqual(knn.map((s) => s.group), report.aggregate.groups.map((g) => g.label));
    const joint = knn[0]!;
    assert.deepEqual(joint.config.data.datasets.map((d) => d.label), ALL);
    // Mean over joint's seeds 1-3 (finished: epochs 0, 2, 4, 5) and seed 4 (failed: 0, 2, 3).
    const h = joint.config.data.datasets[0]!;
    assert.deepEqual(h.data.map((p) => p.x), [0, 2, 3, 4, 5]);
    const joints = STUDY_RUNS.filter((r) => r.method === "joint");
    const at0 = joints.map((r) => dynamicsValue(r, "h", 0, 0).knnTop1);
    close(h.data[0]!.y, (at0.reduce((a, b) => a + b) / at0.length) * 100, 1e-3);
    // no_head measured every layer, but only h is trained: only h is drawn.
    const noHead = knn.find((s) => s.group === "no_head")!;
    assert.deepEqual(noHead.config.data.datasets.map((d) => d.label), ["h"]);
    const yr = (s: (typeof knn)[number]) => JSON.stringify((s.config.options.scales as { y: unknown }).y);
    assert.ok(knn.every((s) => yr(s) === yr(joint)), "the panels of a metric share the y axis");
  });

  test("--json output is serialisable and compact", () => {
    const s = JSON.stringify(report.json);
    const back = JSON.parse(s) as typeof report.json;
    assert.equal(back.runs.length, 14);
    assert.equal(back.groups.length, 6);
    assert.ok(!("stepCurve" in back.runs[0]!));
    const j1 = back.runs.find((r) => r.runId === "study-joint-s1")!;
    assert.equal(j1.layers.length, 4);
    assert.equal(j1.layers[0]!.probeConverged, true);
    assert.equal(j1.dynamics.length, 4);
    assert.equal(j1.trainSeconds, 60);
    assert.equal(back.baseline, "joint");
    const k5 = back.comparisons.find((c) => c.label === "bilevel (innerSteps=5)")!;
    const h = k5.layers.find((l) => l.layer === "h")!.metrics.linearTop1!;
    assert.equal(h.verdict, "no difference shown");
    assert.equal(h.ci!.lo < 0 && h.ci!.hi > 0, true);
    assert.deepEqual(back.groups.find((g) => g.method === "no_head")!.untrainedLayers, ["head.1", "head.2", "z"]);
  });

  test("out may be a directory or a file; html: false skips it", async () => {
    const dir = join(root, "out");
    await mkdir(dir);
    const a = await buildReport([sweepDir], { out: dir, color: false });
    assert.equal(a.htmlPath, join(dir, "report.html"));
    const b = await buildReport([sweepDir], { out: join(dir, "x", "r.html"), color: false });
    assert.equal(b.htmlPath, join(dir, "x", "r.html"));
    const c = await buildReport([sweepDir], { html: false, color: false });
    assert.equal(c.htmlPath, null);
    assert.ok(!c.text.includes("HTML report"));
  });

  test("a study with no evaluation yet still renders curves and the run table", async () => {
    const r2 = await mkdtemp(join(tmpdir(), "projhead-report-noeval-"));
    try {
      await writeRun(r2, { id: "a", method: "joint", seed: 1, state: "running" });
      const res = await buildReport([join(r2, "runs", "a")], { color: false });
      assert.match(res.text, /No evaluations yet/);
      const html = await readFile(res.htmlPath!, "utf8");
      assert.ok(html.includes('id="chart-loss"'));
      assert.ok(!html.includes('id="chart-layers-linear"'));
    } finally {
      await rm(r2, { recursive: true, force: true });
    }
  });
});

describe("paired comparison with the baseline", () => {
  const cmp = (label: string): Comparison => report.aggregate.comparisons.find((c) => c.label === label)!;
  const cell = (label: string, layer: string) => cmp(label).layers.find((l) => l.layer === layer)!;

  test("each method is paired with joint by seed", () => {
    assert.equal(report.aggregate.baseline, "joint");
    assert.deepEqual(report.aggregate.comparisons.map((c) => c.method), ["bilevel", "bilevel", "no_head", "fixed_head", "directclr"]);
    const k5 = cmp("bilevel (innerSteps=5)");
    assert.equal(k5.baselineLabel, "joint", "method options do not stop the pairing");
    assert.deepEqual(k5.pairs, [1, 2, 3].map((s) => ({ seed: s, runId: `study-bilevel-k5-s${s}`, baselineRunId: `study-joint-s${s}` })));
  });

  test("bilevel K=5 − joint at h: differences 1, 2, 3 points → 2 ± 4.303/√3, no difference shown", () => {
    const p = cell("bilevel (innerSteps=5)", "h").metrics.linearTop1!;
    assert.deepEqual(p.diffs.map((d) => Math.round(d.value * 1000) / 1000), [0.01, 0.02, 0.03]);
    close(p.mean, 0.02, 1e-12);
    close(p.std, 0.01, 1e-12);
    close(p.ci!.half, (T975[2]! * 0.01) / Math.sqrt(3), 1e-10);
    assert.equal(p.verdict, "no difference shown");
  });

  test("better, worse, one seed, untrained, nothing to compare", () => {
    const k1 = cell("bilevel (innerSteps=1)", "h").metrics.linearTop1!;
    close(k1.mean, (0.05 + 0.04 + 0.04) / 3, 1e-12);
    assert.equal(k1.verdict, "better");
    const noHead = cell("no_head", "h").metrics.linearTop1!;
    close(noHead.mean, -0.095, 1e-12);
    close(noHead.ci!.half, (T975[1]! * Math.sqrt(0.00005)) / Math.sqrt(2), 1e-9);
    // The interval alone says worse; as one of the exploratory cells, after Holm, it is not shown.
    assert.equal(noHead.ciVerdict, "worse");
    assert.equal(noHead.role, "exploratory");
    assert.equal(noHead.verdict, "no difference shown");
    // no_head's z is untrained: flagged, and no statistic at all.
    const z = cell("no_head", "z");
    assert.equal(z.untrained, true);
    assert.ok(Object.values(z.metrics).every((m) => m === null));
    assert.equal(cell("fixed_head", "h").metrics.linearTop1!.verdict, "one seed cannot decide");
    assert.equal(cell("directclr", "h").metrics.linearTop1, null, "a running run has no evaluation yet");
    // Alignment: lower is better; the fixture's alignment is equal everywhere: per-seed differences
    // all 0, no spread, so no verdict (it was "no difference shown" from a zero-width interval).
    const align = cell("bilevel (innerSteps=1)", "h").metrics.alignment!;
    assert.equal(align.verdict, "cannot decide (no spread)");
    assert.equal(align.p, null);
    assert.equal(align.pAdjusted, null);
  });

  test("terminal tables: the primary comparison, then each metric's cells with MDE, p and Holm's p", () => {
    // Hand-computed (closed forms of the t distribution with 1 and 2 degrees of freedom):
    // K=1 at h: differences 5, 4, 4 points, t = 13, p = 1 − 13/√171 = 0.00587;
    // K=5 at h: 1, 2, 3 points, t = 2√3, p = 1 − 2√3/√14 = 0.0742; the two primary cells: Holm
    // gives 2 · 0.00587 = 0.0117 and max(0.0117, 0.0742) = 0.0742.
    // MDE (sd 1, n 3) = (t(0.975, 2) + t(0.8, 2)) / √3 = (4.3027 + 1.0607) / √3 = 3.10 points.
    const primary = report.text.split("\n\n").find((b) => b.startsWith("Primary comparison: bilevel − joint, linear probe at h"))!;
    const plines = primary.split("\n");
    assert.match(plines[1]!, /^method\s+vs\s+pairs\s+Δ\s+95 % CI\s+MDE\s+p\s+p \(Holm\)\s+verdict$/);
    assert.match(plines.find((l) => l.startsWith("bilevel (innerSteps=1) "))!, /joint\s+3\s+\+4\.3\s+\[\+2\.9, \+5\.8\]\s+1\.8\s+0\.006\s+0\.012\s+better$/);
    assert.match(plines.find((l) => l.startsWith("bilevel (innerSteps=5) "))!, /joint\s+3\s+\+2\.0\s+\[-0\.5, \+4\.5\]\s+3\.1\s+0\.074\s+0\.074\s+no difference shown$/);
    assert.match(primary, /2 groups of bilevel: p \(Holm\) over these 2/);

    const block = report.text.split("\n\n").find((b) => b.startsWith("Paired difference to joint (same seed): linear probe"))!;
    const lines = block.split("\n");
    assert.match(lines[1]!, /^method\s+layer\s+pairs\s+family\s+Δ\s+95 % CI\s+MDE\s+p\s+p \(Holm\)\s+verdict$/);
    const row = (m: string, l: string) => lines.find((x) => x.startsWith(m) && new RegExp(`\\s${l.replace(".", "\\.")}\\s`).test(x))!;
    assert.match(row("bilevel (innerSteps=1)", "h"), /\s3\s+primary\s+\+4\.3\s+\[\+2\.9, \+5\.8\]\s+1\.8\s+0\.006\s+0\.012\s+better$/);
    // The 25 exploratory cells (linear, kNN and rank of K=1 and K=5 at every layer but the
    // primary, 11 each; no_head's 3 at h), sorted: 8 rank cells and no_head's rank far below,
    // then the seven K=1 cells at p = 0.00587 from rank 10: Holm 16 · 0.00587 = 0.0938.
    assert.match(row("bilevel (innerSteps=1)", "head.1"), /exploratory\s+\+4\.3\s+\[\+2\.9, \+5\.8\]\s+1\.8\s+0\.006\s+0\.094\s+no difference shown$/);
    // no_head at h: −10, −9, t = 19 on 1 df, p = 1 − 2·atan(19)/π = 0.0335, ranks 17-18: 9 · p = 0.301.
    assert.match(row("no_head", "h"), /exploratory\s+-9\.5\s+\[-15\.9, -3\.1\]\s+7\.0\s+0\.033\s+0\.301\s+no difference shown$/);
    assert.match(row("no_head", "head.1"), /head\.1\s+—\s+—/);
    // fixed_head's evaluation came from events: no recorded protocol, so its probe L2 is marked.
    assert.match(row("fixed_head", "h"), /-2\.0‡\s+-\s+-\s+-\s+-\s+one seed cannot decide$/);
    assert.match(block, /adjusted over the 25 exploratory cells/);
    assert.equal(report.aggregate.families.exploratory, 25);
    assert.equal(report.aggregate.families.primary, 2);
    const k5 = cell("bilevel (innerSteps=5)", "head.1").metrics.linearTop1!;
    close(k5.p, 1 - (2 * Math.sqrt(3)) / Math.sqrt(14), 1e-7);
    close(k5.pAdjusted, 7 * (1 - (2 * Math.sqrt(3)) / Math.sqrt(14)), 1e-6);
    close(cell("no_head", "h").metrics.linearTop1!.pAdjusted, 9 * (1 - (2 * Math.atan(19)) / Math.PI), 1e-6);
    close(cell("bilevel (innerSteps=1)", "h").metrics.linearTop1!.pAdjusted, 2 * (1 - 13 / Math.sqrt(171)), 1e-7);
    close(cell("bilevel (innerSteps=5)", "h").metrics.linearTop1!.mde, (T975[2]! + Math.sqrt(1.125)) * 0.01 / Math.sqrt(3), 1e-7);
  });

  test("--baseline picks another method; an unknown one is refused before anything is written", async () => {
    const r = await buildReport([sweepDir], { baseline: "no_head", html: false, color: false });
    assert.equal(r.aggregate.baseline, "no_head");
    const joint = r.aggregate.comparisons.find((c) => c.method === "joint")!;
    const h = joint.layers.find((l) => l.layer === "h")!.metrics.linearTop1!;
    assert.equal(h.ciVerdict, "better");
    assert.equal(h.role, "exploratory", "the default primary is bilevel against the baseline");
    assert.match(r.text, /Paired difference to no_head/);
    await assert.rejects(buildReport([sweepDir], { baseline: "simclr" }), (e: unknown) => {
      assert.ok(e instanceof ReportInputError);
      assert.equal(e.field, "--baseline");
      assert.match(e.message, /"simclr".*joint, bilevel, no_head, fixed_head, directclr/);
      return true;
    });
  });

  test("a sweep's report.baseline is the default; without baseline runs the report says so", async () => {
    const r2 = await mkdtemp(join(tmpdir(), "projhead-report-base-"));
    try {
      const runs = STUDY_RUNS.filter((r) => r.method === "bilevel" || r.method === "no_head");
      const dir = await writeStudy(r2, runs);
      const rec = JSON.parse(await readFile(join(dir, "sweep.json"), "utf8")) as Record<string, unknown>;
      await writeFile(join(dir, "sweep.json"), JSON.stringify({ ...rec, baseline: "no_head" }));
      const r = await buildReport([dir], { html: false, color: false });
      assert.equal(r.aggregate.baseline, "no_head");
      assert.equal(r.aggregate.comparisons.length, 2);
      const noJoint = await buildReport([dir], { html: false, color: false, baseline: "joint" });
      assert.ok(!noJoint.text.includes("Paired difference"));
      assert.match(noJoint.text, /No joint runs: nothing to pair the other methods with/);
    } finally {
      await rm(r2, { recursive: true, force: true });
    }
  });

  test("experiment files: report.baseline is checked, and not sweepable", () => {
    assert.equal(resolveExperiment({ name: "x", report: { baseline: "bilevel" } }).report?.baseline, "bilevel");
    assert.throws(
      () => resolveExperiment({ name: "x", report: { baseline: "simclr" } }),
      (e: unknown) => e instanceof ExperimentError && /report\.baseline/.test(e.message) && /joint, bilevel/.test(e.message),
    );
    assert.throws(
      () => resolveExperiment({ name: "x", sweep: { grid: { "report.baseline": ["joint", "bilevel"] } } }),
      (e: unknown) => e instanceof ExperimentError && /report\.\*/.test(e.message),
    );
  });
});

describe("untrained layers", () => {
  test("an older eval.json of no_head, with its random head evaluated, shows the head as untrained", async () => {
    const r2 = await mkdtemp(join(tmpdir(), "projhead-report-old-"));
    try {
      // No untrainedLayers field: written before the worker listed them.
      await writeRun(r2, { id: "old-no_head", method: "no_head", seed: 1, state: "finished", linearH: 0.7, layers: ALL });
      await writeRun(r2, { id: "old-joint", method: "joint", seed: 1, state: "finished", linearH: 0.8, layers: ALL });
      const r = await buildReport([join(r2, "runs")], { html: false, color: false });
      const run = r.data.runs.find((x) => x.runId === "old-no_head")!;
      assert.deepEqual(run.untrainedLayers, ["head.1", "head.2", "z"]);
      assert.deepEqual(run.eval!.layers.map((l) => l.layer), ["h"]);
      assert.ok(run.dynamics.every((p) => p.layers.every((l) => l.layer === "h")));
      const lin = r.text.split("\n\n").find((b) => b.startsWith("Linear probe"))!;
      assert.match(lin.split("\n").find((l) => l.startsWith("no_head "))!, /70\.0\s+—\s+—\s+—$/);
    } finally {
      await rm(r2, { recursive: true, force: true });
    }
  });
});

describe("compute accounting", () => {
  test("train time, images seen, optimizer and inner head steps per method, next to accuracy", () => {
    const block = report.text.split("\n\n").find((b) => b.startsWith("Compute and accuracy"))!;
    const lines = block.split("\n");
    assert.match(lines[1]!, /^method\s+runs\s+train time\s+× joint\s+images seen\s+optimizer steps\s+inner head steps\s+linear h %\s+kNN %$/);
    // joint: 3 finished runs (the failed one stopped early and is not the method's cost).
    assert.match(lines.find((l) => l.startsWith("joint "))!, /^joint\s+3\s+1m 00s\s+ref\s+3,200\s+50\s+0\s+82\.0\s+10\.3 → 78\.0$/);
    // bilevel K=5: 60 s + 5 · 20 s = 160 s, 2.67× joint; 50 · 5 inner steps.
    assert.match(lines.find((l) => l.startsWith("bilevel (innerSteps=5) "))!, /\s3\s+2m 40s\s+2\.67×\s+3,200\s+50\s+250\s+84\.0\s/);
    const k5 = report.aggregate.comparisons.find((c) => c.label === "bilevel (innerSteps=5)")!;
    close(k5.trainTimeRatio, 160 / 60);
  });

  test("runs that recorded no compute get no table of dashes", () => {
    const runs = report.data.runs.map((r) => ({ ...r, trainSeconds: null, imagesSeen: null, optimizerSteps: null, innerHeadSteps: null }));
    const agg = aggregate({ ...report.data, runs });
    assert.equal(computeTable(agg), null);
  });
});

describe("layer dynamics", () => {
  test("one run: an epoch × layer table of kNN % / RankMe, epoch 0 first", async () => {
    const r = await buildReport([join(root, "runs", "study-joint-s1")], { html: false, color: false });
    const block = r.text.split("\n\n").find((b) => b.startsWith("Layer dynamics of study-joint-s1"))!;
    const lines = block.split("\n");
    assert.match(lines[1]!, /^epoch\s+step\s+h\s+head\.1\s+head\.2\s+z$/);
    const run = STUDY_RUNS[0]!;
    const v = (layer: string, i: number, e: number) => {
      const d = dynamicsValue(run, layer, i, e);
      return `${(d.knnTop1 * 100).toFixed(1)} / ${d.effectiveRank.toFixed(1)}`;
    };
    assert.equal(lines[3], `    0     0  ${ALL.map((l, i) => v(l, i, 0).padStart(11)).join("  ")}`);
    assert.deepEqual(lines.slice(3, -1).map((l) => Number(l.trim().split(/\s+/)[0])), [0, 2, 4, 5]);
    assert.match(block, /fixed subset of 256 images; epoch 0 = before the first step/);
    // A sweep report has no such table (one run's table only).
    assert.ok(!report.text.includes("Layer dynamics of"));
  });

  test("long runs: the first, the last and evenly spaced epochs", () => {
    const run = report.data.runs[0]!;
    const long = {
      ...run,
      dynamics: Array.from({ length: 201 }, (_, e) => ({ ...run.dynamics[0]!, epoch: e, step: e * 10 })),
    };
    const t = dynamicsTable(long)!;
    assert.equal(t.rows.length, MAX_DYNAMICS_ROWS);
    assert.equal(t.rows[0]![0]!.text, "0");
    assert.equal(t.rows.at(-1)![0]!.text, "200");
    assert.equal(t.rows[1]![0]!.text, "10");
    assert.match(t.note!, /21 of 201 measurements shown/);
  });
});

/** The CLI from another working directory (the loader named by file, as cwd cannot resolve it). */
function cliIn(cwd: string, args: string[]) {
  return execa(process.execPath, ["--import", import.meta.resolve("tsx"), join(ROOT, "src/main.ts"), ...args], { cwd, reject: false });
}

describe("bad input", () => {
  test("a path that does not exist: ReportInputError naming it, nothing created", async () => {
    const missing = join(root, "runs", "does-not-exist");
    await assert.rejects(buildReport([missing]), (e: unknown) => {
      assert.ok(e instanceof ReportInputError);
      assert.equal(e.field, missing);
      assert.match(e.message, /does-not-exist: no such directory/);
      return true;
    });
    assert.equal(existsSync(missing), false);
  });

  test("projhead report runs/does-not-exist exits 2 and creates nothing", { timeout: 60_000 }, async () => {
    const cwd = await mkdtemp(join(tmpdir(), "projhead-report-cli-"));
    try {
      const r = await cliIn(cwd, ["report", "runs/does-not-exist"]);
      assert.equal(r.exitCode, 2, String(r.stderr));
      assert.match(String(r.stderr), /runs\/does-not-exist: no such directory/);
      assert.deepEqual(await readdir(cwd), [], "no runs/ and no report.html");
      const bad = await cliIn(cwd, ["report", "--baseline", "simclr", sweepDir]);
      assert.equal(bad.exitCode, 2);
      assert.match(String(bad.stderr), /--baseline "simclr": expected one of joint/);
      assert.equal(existsSync(join(sweepDir, "report.html.tmp")), false);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});

test("durations round once, at the unit shown (no \"39m 60s\")", () => {
  assert.equal(fmtDuration(12.34), "12.3s");
  assert.equal(fmtDuration(59.97), "1m 00s");
  assert.equal(fmtDuration(2399.6), "40m 00s");
  assert.equal(fmtDuration(2694.8), "44m 55s");
  assert.equal(fmtDuration(3599.7), "1h 00m");
  assert.equal(fmtDuration(7199.9), "2h 00m");
  assert.equal(fmtDuration(null), "-");
});
