// Renders the HTML report in real headless Chromium: every chart draws, nothing errors, nothing
// is fetched from the network. Skips (with the reason) where /usr/bin/chromium is absent.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { buildReport } from "../../src/report/index.js";
import { writeStudy } from "../helpers/report-fixtures.js";
import { needOrSkip } from "../helpers/require.js";

const CHROMIUM = "/usr/bin/chromium";
interface CanvasStats {
  id: string;
  width: number;
  height: number;
  painted: number;
  coloured: number;
}

// Runs in the page (a string: this project's TypeScript has no DOM types). Saturated pixels are
// data (lines, points); text and grid lines are grey.
const CANVAS_STATS = `[...document.querySelectorAll("canvas")].map((c) => {
  const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let painted = 0, coloured = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0) painted++;
    const mx = Math.max(data[i], data[i + 1], data[i + 2]), mn = Math.min(data[i], data[i + 1], data[i + 2]);
    if (data[i + 3] > 128 && mx - mn > 80) coloured++;
  }
  return { id: c.id, width: c.width, height: c.height, painted, coloured };
})`;

// The tick labels Chart.js drew on every axis of every chart.
const TICK_LABELS = `[...document.querySelectorAll("canvas")].map((c) => {
  const chart = Chart.getChart(c);
  return { id: c.id, labels: Object.values(chart.scales).flatMap((s) => s.ticks.map((t) => String(t.label))) };
})`;

// The kNN chart again with a y range where plain "v + '%'" prints 13.100000000000001% (found by a
// user in a real report): the page's own tick callback must print 13.1%.
const NOISY_RANGE = `(() => {
  const chart = Chart.getChart(document.getElementById("chart-layers-knn"));
  chart.options.scales.y.suggestedMin = 13.2;
  chart.options.scales.y.suggestedMax = 13.9;
  chart.data.datasets = [{ label: "probe", data: [{ x: 0, y: 13.25 }, { x: 1, y: 13.85 }] }];
  chart.update();
  return chart.scales.y.ticks.map((t) => String(t.label));
})()`;

// Dynamics: one panel per metric and method group (the study has 6 groups).
const DYNAMICS = ["knnTop1", "effectiveRank", "alignment", "uniformity"].flatMap((m) => [0, 1, 2, 3, 4, 5].map((g) => `dyn-${m}-${g}`));
const EXPECTED_CHARTS = [
  "layers-linear", "layers-knn", "layers-erank", "paired-linear", "paired-knn",
  ...DYNAMICS, "spectrum-h", "spectrum-z", "loss", "knn-monitor",
];

test(
  "HTML report renders every chart in headless Chromium",
  { skip: needOrSkip(existsSync(CHROMIUM), CHROMIUM, "apt-get install -y chromium"), timeout: 120_000 },
  async (t) => {
    const root = await mkdtemp(join(tmpdir(), "projhead-report-e2e-"));
    const shotDir = await mkdtemp(join(tmpdir(), "projhead-report-shot-"));
    const report = await buildReport([await writeStudy(root)], { color: false });

    // A fresh user data dir per run: no profile state leaks between runs or from the machine.
    const context = await chromium.launchPersistentContext(join(shotDir, "profile"), {
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1400, height: 1000 },
      deviceScaleFactor: 1,
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const problems: string[] = [];
      const remote: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
      // The report must be self-contained: anything but the file itself is refused and recorded.
      await page.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith("file:")) return route.continue();
        remote.push(url);
        return route.abort();
      });

      await page.goto(pathToFileURL(report.htmlPath!).href);
      await page.waitForFunction("window.__reportReady === true", null, { timeout: 30_000 });

      const charts = (await page.evaluate(CANVAS_STATS)) as CanvasStats[];
      const ticks = (await page.evaluate(TICK_LABELS)) as { id: string; labels: string[] }[];
      const errors = (await page.evaluate("window.__reportErrors")) as string[];
      const ready = await page.getAttribute("body", "data-charts-ready");

      const shot = join(shotDir, "report.png");
      await page.screenshot({ path: shot, fullPage: true });
      t.diagnostic(`screenshot: ${shot}`);

      assert.deepEqual(charts.map((c) => c.id), EXPECTED_CHARTS.map((id) => `chart-${id}`));
      assert.equal(ready, String(EXPECTED_CHARTS.length));
      for (const c of charts) {
        assert.ok(c.width > 300 && c.height > 200, `${c.id} has a real size (${c.width}x${c.height})`);
        assert.ok(c.painted > 2000, `${c.id} is not blank (${c.painted} painted pixels)`);
        assert.ok(c.coloured > 200, `${c.id} draws data (${c.coloured} coloured pixels)`);
      }
      // Ticks are formatted from their spacing: "13.6%", never "13.600000000000001%".
      for (const t of ticks) {
        assert.ok(t.labels.length > 0, `${t.id} has tick labels`);
        const noisy = t.labels.filter((l) => /\d\.\d{4,}/.test(l));
        assert.deepEqual(noisy, [], `${t.id}: tick labels with float noise`);
      }
      const pct = ticks.find((t) => t.id === "chart-knn-monitor")!.labels;
      assert.ok(pct.some((l) => l.endsWith("%")), `percent ticks: ${pct.join(" ")}`);
      const probe = (await page.evaluate(NOISY_RANGE)) as string[];
      assert.ok(probe.includes("13.6%"), `ticks of 13.2-13.9: ${probe.join(" ")}`);
      assert.deepEqual(probe.filter((l) => /\d\.\d{4,}/.test(l)), [], `ticks of 13.2-13.9: ${probe.join(" ")}`);
      assert.deepEqual(errors, []);
      assert.deepEqual(problems, []);
      assert.deepEqual(remote, [], "no network requests");
    } finally {
      await context.close();
      await rm(root, { recursive: true, force: true });
      await rm(join(shotDir, "profile"), { recursive: true, force: true });
    }
  },
);
