#!/usr/bin/env python3
"""The verdict's summary tables (markdown) from the report's JSON:

    npx projhead report docs/verdict/v1/runs/verdict-finals-* --json --no-html | python3 docs/verdict/v1/summarize.py [--into FILE]

With --into, the tables replace what stands between the "finals:begin" and "finals:end" markers
of FILE (docs/verdict/v1/README.md) instead of being printed.

One row per method group: linear probe and kNN top-1 at every layer (mean ± 95 % CI half-width
over seeds), then the paired difference to joint at every layer (mean [95 % CI], verdict), and
the mean wall time of a run.
"""
from __future__ import annotations

import json
import re
import sys


def pct(stat, ci=True):
    if not stat or stat.get("mean") is None:
        return "—"
    s = f"{100 * stat['mean']:.1f}"
    if ci and stat.get("ci"):
        s += f" ± {100 * stat['ci']['half']:.1f}"
    return s


def main() -> None:
    lines = [l for l in sys.stdin.read().strip().splitlines() if l.strip()]
    rep = json.loads(lines[-1])
    rep = rep.get("report", rep)
    layers = rep["layers"]
    runs = {r["runId"]: r for r in rep["runs"]}
    out = []
    for metric, title in (("linearTop1", "Linear probe top-1 (%)"), ("knnTop1", "kNN top-1 (%), k = 200")):
        out.append(f"**{title}**, mean ± 95 % CI half-width over seeds\n")
        out.append("| method | n | " + " | ".join(f"`{l}`" for l in layers) + " |")
        out.append("|---|---|" + "---|" * len(layers))
        for g in rep["groups"]:
            by = {l["layer"]: l for l in g["layers"]}
            untrained = set(g.get("untrainedLayers", []))
            cells = ["—" if l in untrained or l not in by else pct(by[l]["stats"][metric]) for l in layers]
            out.append(f"| {g['label']} | {g['evaluated']} | " + " | ".join(cells) + " |")
        out.append("")
    out.append("**Paired difference to joint** (same seeds), percentage points: mean [95 % CI], verdict\n")
    out.append("| method | pairs | " + " | ".join(f"linear `{l}`" for l in layers) + " | kNN `h` |")
    out.append("|---|---|" + "---|" * (len(layers) + 1))
    for c in rep["comparisons"]:
        by = {l["layer"]: l for l in c.get("layers", [])}

        def cell(layer, metric):
            l = by.get(layer)
            if not l or l.get("untrained"):
                return "—"
            m = l["metrics"][metric]
            if m.get("mean") is None:
                return "—"
            ci = f" [{100 * m['ci']['lo']:+.1f}, {100 * m['ci']['hi']:+.1f}]" if m.get("ci") else ""
            return f"{100 * m['mean']:+.1f}{ci} {m['verdict']}"

        cells = [cell(l, "linearTop1") for l in layers] + [cell("h", "knnTop1")]
        out.append(f"| {c['label']} | {len(c.get('pairs', []))} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("**Wall time of a run** (2 epochs of 12 000 images + the evaluation of every layer; shared, loaded CPU)\n")
    out.append("| method | runs | mean wall | range |")
    out.append("|---|---|---|---|")
    for g in rep["groups"]:
        ws = [runs[r]["wallSeconds"] for r in g["runIds"] if runs.get(r, {}).get("wallSeconds")]
        if ws:
            out.append(f"| {g['label']} | {len(ws)} | {sum(ws) / len(ws) / 60:.1f} min | {min(ws) / 60:.1f}–{max(ws) / 60:.1f} min |")
    text = "\n".join(out)
    if "--into" in sys.argv:
        path = sys.argv[sys.argv.index("--into") + 1]
        doc = open(path, encoding="utf-8").read()
        new, n = re.subn(r"(<!-- finals:begin[^>]*-->\n).*?(<!-- finals:end -->)",
                         lambda m: m.group(1) + text + "\n" + m.group(2), doc, flags=re.S)
        if n != 1:
            sys.exit(f"{path}: expected one finals:begin ... finals:end block")
        open(path, "w", encoding="utf-8").write(new)
    else:
        print(text)


if __name__ == "__main__":
    main()
