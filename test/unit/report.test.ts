import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { aggregate, compareLayers, layerStat, meanStd } from "../../src/report/aggregate.js";
import { chartSpecs } from "../../src/report/charts.js";
import { buildReport, type ReportResult } from "../../src/report/index.js";
import { downsample, loadReportData, loadRun } from "../../src/report/load.js";
import { fmtStat, renderTextTable } from "../../src/report/table.js";
import { writeRun, writeStudy } from "../helpers/report-fixtures.js";

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

describe("aggregation math", () => {
  test("mean and sample std", () => {
    const s = meanStd([1, 2, 3, 4])!;
    close(s.mean, 2.5);
    close(s.std, Math.sqrt(5 / 3)); // sum of squares 5, n - 1 = 3
    assert.equal(s.n, 4);
    assert.deepEqual(meanStd([0.7]), { mean: 0.7, std: null, n: 1 });
    assert.equal(meanStd([]), null);
    assert.equal(meanStd([Number.NaN]), null);
    assert.equal(meanStd([2, Number.NaN, 4])!.n, 2);
  });

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

  test("per-layer mean ± std over seeds", () => {
    const [joint, k1, k5] = report.aggregate.groups;
    const h = layerStat(joint!, "h", "linearTop1")!;
    close(h.mean, 0.82);
    close(h.std, 0.02);
    assert.equal(h.n, 3);
    close(layerStat(joint!, "z", "linearTop1")!.mean, 0.72);
    close(layerStat(k1!, "h", "linearTop1")!.mean, 0.855);
    close(layerStat(k5!, "h", "linearTop1")!.std, Math.sqrt(2 * 0.01 ** 2));
    close(layerStat(joint!, "z", "effectiveRank")!.mean, 4.2);
    assert.equal(fmtStat(h, 1, 100), "82.0 ± 2.0");
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
    assert.equal(report.data.runs.length, 12);
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
    assert.equal(data.runs.length, 12);
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
    assert.ok(joint.includes("82.0 ± 2.0"), joint);
    // Right-aligned: the h column ends where its header ends.
    const hEnd = header.indexOf("h (64)") + "h (64)".length;
    assert.equal(joint.indexOf("82.0 ± 2.0") + "82.0 ± 2.0".length, hEnd);
    const noHead = lines.find((l) => l.startsWith("no_head "))!;
    assert.match(noHead, /71\.0 ± 1\.4\s+-\s+-\s+-$/);
    const fixed = lines.find((l) => l.startsWith("fixed_head "))!;
    assert.match(fixed, /78\.0\s+75\.0\s+-\s+68\.0$/, "single seed: no ± ; head.2 absent");
  });

  test("kNN and effective-rank tables", () => {
    assert.match(report.text, /kNN top-1 \(%\), k=200\n/);
    const knn = report.text.split("\n\n").find((b) => b.startsWith("kNN top-1"))!;
    assert.ok(knn.includes("77.0 ± 2.0"));
    const er = report.text.split("\n\n").find((b) => b.startsWith("Effective rank"))!;
    assert.ok(er.split("\n").find((l) => l.startsWith("joint "))!.includes("4.2 ± 0.1"));
  });

  test("per-run table with state, final loss and kNN", () => {
    const block = report.text.split("\n\n").find((b) => b.startsWith("Runs"))!;
    const lines = block.split("\n");
    assert.match(lines[1]!, /^run\s+group\s+seed\s+state\s+epoch\s+step\s+final loss\s+kNN %\s+eval\s+wall\s+note$/);
    const run = report.data.runs.find((r) => r.runId === "study-joint-s2")!;
    const row = lines.find((l) => l.startsWith("study-joint-s2 "))!;
    assert.ok(row.includes(run.finalLoss!.toFixed(4)));
    assert.ok(row.includes((run.knnTop1! * 100).toFixed(1)));
    assert.ok(row.includes("1m 23s"));
    assert.match(lines.find((l) => l.startsWith("study-joint-s4 "))!, /failed.*non_finite_loss/);
    assert.match(lines.find((l) => l.startsWith("study-directclr-s1 "))!, /running/);
    // Rows follow group order: joint runs first, directclr last.
    assert.ok(lines[3]!.startsWith("study-joint-s1"));
    assert.ok(lines.at(-2)!.startsWith("study-directclr-s1"));
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
    assert.deepEqual(
      payload.charts.map((c) => c.id),
      ["layers-linear", "layers-knn", "layers-erank", "spectrum-h", "spectrum-z", "loss", "knn-monitor"],
    );
    assert.equal(payload.report.runs.length, 12);
    for (const c of payload.charts) assert.ok(html.includes(`id="chart-${c.id}"`));
    assert.ok(html.includes("82.0 ± 2.0"), "tables as HTML");
    assert.ok(html.includes("2026-11-27 12:34 UTC"), "generation date in the header");
  });

  test("chart specs: percent scale, std whiskers, layer ticks, no zeros on log axes", () => {
    const specs = chartSpecs(report.data, report.aggregate);
    const lin = specs.find((s) => s.id === "layers-linear")!;
    assert.deepEqual(lin.layers, ["h", "head.1", "head.2", "z"]);
    const joint = lin.config.data.datasets.find((d) => d.label === "joint")!;
    close(joint.data[0]!.y, 82);
    close(joint.errors![0], 2);
    const sz = specs.find((s) => s.id === "spectrum-z")!;
    assert.ok(sz.config.data.datasets.every((d) => d.data.every((p) => p.y === null || p.y > 0)));
    const loss = specs.find((s) => s.id === "loss")!;
    assert.equal(loss.config.data.datasets.length, 12);
  });

  test("--json output is serialisable and compact", () => {
    const s = JSON.stringify(report.json);
    const back = JSON.parse(s) as typeof report.json;
    assert.equal(back.runs.length, 12);
    assert.equal(back.groups.length, 6);
    assert.ok(!("stepCurve" in back.runs[0]!));
    assert.equal(back.runs.find((r) => r.runId === "study-joint-s1")!.layers.length, 4);
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
