// A single self-contained HTML report: chart.js and the data are inlined so the file opens
// offline, is archivable next to the runs, and never reaches for a CDN.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Aggregate } from "./aggregate.js";
import type { ChartSpec } from "./charts.js";
import type { ReportData } from "./model.js";
import { PAGE_SCRIPT } from "./page.js";
import type { Cell, Table } from "./table.js";

let chartJsSource: string | null = null;

/** The UMD build of chart.js, read once from the installed package. */
export function chartJs(): string {
  if (chartJsSource === null) {
    // The package's exports map hides dist/; resolve its main entry and look beside it.
    const main = createRequire(import.meta.url).resolve("chart.js");
    chartJsSource = readFileSync(join(dirname(main), "chart.umd.js"), "utf8");
  }
  return chartJsSource;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Text that may sit inside <script>: no "</script" or "<!--" can end or confuse it. */
function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\u0021--");
}

function cellHtml(c: Cell, tag: "td" | "th", align: "l" | "r"): string {
  const cls = [align === "r" ? "r" : "", c.best ? "best" : "", c.muted ? "muted" : "", c.bad ? "bad" : ""]
    .filter(Boolean)
    .join(" ");
  const sw = c.color ? `<span class="sw" style="background:${escapeHtml(c.color)}"></span>` : "";
  return `<${tag}${cls ? ` class="${cls}"` : ""}>${sw}${escapeHtml(c.text)}</${tag}>`;
}

export function tableHtml(t: Table): string {
  const head = t.header.map((h, i) => cellHtml({ text: h }, "th", t.align[i] ?? "l")).join("");
  const body = t.rows
    .map((r) => `<tr>${r.map((c, i) => cellHtml(c, "td", t.align[i] ?? "l")).join("")}</tr>`)
    .join("\n");
  return `<section class="table" id="table-${escapeHtml(t.id)}">
<h3>${escapeHtml(t.title)}</h3>
<table><thead><tr>${head}</tr></thead>
<tbody>
${body}
</tbody></table>
${t.note ? `<p class="note">${escapeHtml(t.note)}</p>` : ""}
</section>`;
}

function fmtDate(iso: string): string {
  return iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}

function countStates(data: ReportData): string {
  const n = new Map<string, number>();
  for (const r of data.runs) n.set(r.state, (n.get(r.state) ?? 0) + 1);
  return [...n.entries()].map(([s, c]) => `${c} ${s}`).join(", ");
}

function distinct(values: string[]): string {
  return [...new Set(values.filter(Boolean))].join(", ") || "-";
}

function header(data: ReportData, agg: Aggregate, preamble: string[]): string {
  const facts: [string, string][] = [
    ["Generated", fmtDate(data.generatedAt)],
    ["Runs", `${data.runs.length}${data.runs.length ? ` (${countStates(data)})` : ""}`],
    ["Groups", String(agg.groups.length)],
    ["Dataset", distinct(data.runs.map((r) => r.dataset))],
    ["Backbone", distinct(data.runs.map((r) => r.backbone))],
  ];
  if (data.sweeps.length) facts.push(["Sweeps", data.sweeps.map((s) => s.name).join(", ")]);
  const legend = agg.groups
    .map((g) => `<span class="key"><span class="sw" style="background:${g.color}"></span>${escapeHtml(g.label)}</span>`)
    .join(" ");
  return `<header>
<h1>projhead report</h1>
<dl>${facts.map(([k, v]) => `<div><dt>${k}</dt><dd>${escapeHtml(v)}</dd></div>`).join("")}</dl>
${preamble.map((l) => `<p class="note">${escapeHtml(l)}</p>`).join("\n")}
${legend ? `<p class="legend">${legend}</p>` : ""}
</header>`;
}

function chartCards(specs: ChartSpec[], ids: string[] | ((s: ChartSpec) => boolean), cls = "charts"): string {
  const keep = typeof ids === "function" ? ids : (s: ChartSpec) => ids.includes(s.id);
  const cards = specs
    .filter(keep)
    .map((s) => `<figure class="card"><canvas id="chart-${s.id}" role="img" aria-label="${escapeHtml(String((s.config.options.plugins as { title: { text: string } }).title.text))}"></canvas></figure>`);
  return cards.length ? `<div class="${cls}">${cards.join("\n")}</div>` : "";
}

const DYNAMICS_SECTIONS: [metric: string, title: string][] = [
  ["knnTop1", "kNN top-1 of every layer"],
  ["effectiveRank", "Effective rank (RankMe) of every layer"],
  ["alignment", "Alignment of every layer"],
  ["uniformity", "Uniformity of every layer"],
];

function dynamicsBody(specs: ChartSpec[], table: Table | undefined): string {
  const dyn = specs.filter((s) => s.kind === "dynamics");
  if (!dyn.length) return "";
  const rows = DYNAMICS_SECTIONS.filter(([m]) => dyn.some((s) => s.metric === m))
    .map(([m, title]) => `<h3>${escapeHtml(title)}</h3>\n${chartCards(dyn, (s) => s.metric === m, "charts dyn")}`)
    .join("\n");
  return `<h2>Training dynamics per layer</h2>
<p class="note">Measured during training on a fixed, seeded subset every few epochs (epoch 0: before the first step), for every layer the method trains: where h and z part, when the head starts to absorb the augmentations' invariances. Methods side by side, same y axis per metric.</p>
${rows}
${table ? tableHtml(table) : ""}`;
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:24px 32px;color:#222;background:#fafafa}
h1{margin:0 0 8px;font-size:24px} h2{margin:32px 0 12px;font-size:19px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{margin:16px 0 6px;font-size:15px}
dl{display:flex;flex-wrap:wrap;gap:6px 24px;margin:0} dl div{display:flex;gap:6px} dt{color:#666} dd{margin:0;font-weight:600}
.legend{margin:10px 0 0}.key{margin-right:16px;white-space:nowrap}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
.charts.dyn{grid-template-columns:repeat(auto-fit,minmax(340px,1fr))} .charts.dyn .card{height:300px}
.card{position:relative;height:380px;margin:0;background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:10px}
table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
th{background:#f1f1f1;font-weight:600} .r{text-align:right} .best{font-weight:700}
.muted{color:#aaa} .bad{color:#c62828} .note{color:#777;font-size:12px;margin:4px 0 0}
.warnings{background:#fff8e1;border:1px solid #ffe082;padding:8px 14px;border-radius:6px}
.tables{display:flex;flex-wrap:wrap;gap:8px 32px} .empty{color:#777}
@media print{body{background:#fff}.card{break-inside:avoid}}
`;

/** `preamble`: the protocol and code-revision lines the terminal prints under its head. */
export function renderHtml(data: ReportData, agg: Aggregate, tables: Table[], specs: ChartSpec[], json: unknown, preamble: string[] = []): string {
  const byId = new Map(tables.map((t) => [t.id, t]));
  const some = (ids: string[]) => ids.map((id) => byId.get(id)).filter((t): t is Table => !!t);
  const evalTables = some(["linear", "knn", "erank", "linear-val", "alignuniform"]);
  const floors = some(["floors", "gains"]);
  const payload = JSON.stringify({ charts: specs, report: json });
  const warnings = data.warnings.length
    ? `<section class="warnings"><h3>Warnings</h3><ul>${data.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("")}</ul></section>`
    : "";
  const evalBody = agg.layers.length
    ? `${chartCards(specs, ["layers-linear", "layers-knn", "layers-erank"])}
<div class="tables">${evalTables.map(tableHtml).join("\n")}</div>`
    : `<p class="empty">No evaluations yet: run <code>projhead eval</code> or set <code>train.evalAtEnd: true</code>.</p>`;
  const primary = byId.get("primary");
  const paired = some(["paired-linear", "paired-knn", "seeds"]);
  const pairedBody = paired.length
    ? `<h2>Paired comparison with ${escapeHtml(agg.baseline)}</h2>
${chartCards(specs, ["paired-linear", "paired-knn"])}
${paired.map(tableHtml).join("\n")}`
    : "";
  const floorBody = floors.length ? `<h2>Floors: raw pixels and the random-init backbone</h2>\n${floors.map(tableHtml).join("\n")}` : "";
  const compute = byId.get("compute");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="projhead">
<title>projhead report · ${data.runs.length} runs · ${escapeHtml(fmtDate(data.generatedAt))}</title>
<style>${CSS}</style>
</head>
<body>
${header(data, agg, preamble)}
${warnings}
${primary ? `<h2>Primary comparison</h2>\n${tableHtml(primary)}` : ""}
<h2>Per-layer evaluation</h2>
${evalBody}
${floorBody}
${pairedBody}
${compute ? `<h2>Compute</h2>\n${tableHtml(compute)}` : ""}
${dynamicsBody(specs, byId.get("dynamics"))}
${specs.some((s) => s.kind === "spectrum") ? `<h2>Spectra</h2>\n${chartCards(specs, ["spectrum-h", "spectrum-z"])}` : ""}
<h2>Training</h2>
${chartCards(specs, ["loss", "knn-monitor"])}
${byId.get("runs") ? tableHtml(byId.get("runs")!) : ""}
<script type="application/json" id="report-data">${payload.replace(/</g, "\\u003c")}</script>
<script>${scriptSafe(chartJs())}</script>
<script>${scriptSafe(PAGE_SCRIPT)}</script>
</body>
</html>
`;
}
