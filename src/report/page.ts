// The browser-side script of the HTML report (plain ES2017, runs after the inlined chart.js).
// It turns the JSON chart specs into charts, adding what JSON cannot carry: formatters,
// layer-name ticks and the confidence-interval whiskers. window.__reportReady tells tests rendering is done.
export const PAGE_SCRIPT = String.raw`
(function () {
  "use strict";
  var payload = JSON.parse(document.getElementById("report-data").textContent);
  var errors = (window.__reportErrors = []);
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  Chart.defaults.font.size = 12;
  Chart.defaults.color = "#333";

  function signed(v, d) { var t = Math.abs(v).toFixed(d); return +t === 0 ? t : (v > 0 ? "+" : "-") + t; }
  var digits = { pct: function (v) { return v.toFixed(1); }, pp: function (v) { return signed(v, 1); },
    loss: function (v) { return v.toFixed(4); }, rank: function (v) { return v.toFixed(1); },
    num: function (v) { return v.toFixed(3); }, sv: function (v) { return v.toExponential(3); } };
  var units = { pct: " %", pp: " points", loss: "", rank: "", num: "", sv: "" };

  // Tick values are sums of float steps (13.2 + 0.1 = 13.299999999999999): 12 significant digits
  // drop that noise and keep every digit a tick means, so labels read "13.3%" and "13.25%".
  function tickLabel(suffix, sign) {
    return function (v) {
      var t = String(Number(Number(v).toPrecision(12)));
      return (sign && v > 0 ? "+" : "") + t + suffix;
    };
  }

  // Vertical whiskers of the 95 % interval at each point that carries one (datasets[i].errors).
  var errorBars = {
    id: "errorBars",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx, y = chart.scales.y;
      chart.data.datasets.forEach(function (ds, i) {
        if (!ds.errors || !chart.isDatasetVisible(i)) return;
        chart.getDatasetMeta(i).data.forEach(function (pt, j) {
          var e = ds.errors[j], v = ds.data[j] && ds.data[j].y;
          if (e == null || v == null || !e) return;
          var top = y.getPixelForValue(v + e), bottom = y.getPixelForValue(v - e);
          ctx.save();
          ctx.strokeStyle = ds.borderColor;
          ctx.lineWidth = 1.5;
          ctx.beginPath();
          ctx.moveTo(pt.x, top); ctx.lineTo(pt.x, bottom);
          ctx.moveTo(pt.x - 4, top); ctx.lineTo(pt.x + 4, top);
          ctx.moveTo(pt.x - 4, bottom); ctx.lineTo(pt.x + 4, bottom);
          ctx.stroke();
          ctx.restore();
        });
      });
    },
  };

  function titleFor(spec, items) {
    if (!items.length) return "";
    var x = items[0].parsed.x;
    if (spec.kind === "layers") return "layer " + spec.layers[Math.round(x)];
    if (spec.kind === "spectrum") return "index " + x;
    if (spec.kind === "dynamics") return spec.group + " · epoch " + x;
    return (spec.id === "loss" ? "step " : "epoch ") + x;
  }

  function build(spec) {
    var cfg = spec.config, o = cfg.options, fmt = digits[spec.format], unit = units[spec.format];
    o.plugins.tooltip = { callbacks: {
      title: function (items) { return titleFor(spec, items); },
      label: function (c) {
        var v = c.parsed.y;
        if (v == null) return "";
        var ds = c.dataset, s = ds.label + ": " + fmt(v);
        var e = ds.errors && ds.errors[c.dataIndex];
        if (e != null) s += " ± " + Math.abs(e).toFixed(spec.format === "num" ? 3 : 1);
        s += unit;
        if (ds.counts) s += "  (n=" + ds.counts[c.dataIndex] + (e != null ? ", 95 % CI" : "") + ")";
        return s;
      },
    } };
    if (spec.kind === "layers") {
      o.scales.x.afterBuildTicks = function (axis) {
        axis.ticks = spec.layers.map(function (_, i) { return { value: i }; });
      };
      o.scales.x.ticks.callback = function (v) { return spec.layers[v] === undefined ? "" : spec.layers[v]; };
      o.scales.x.grid = { display: false };
    }
    if (spec.format === "pct") o.scales.y.ticks = { callback: tickLabel("%", false) };
    if (spec.format === "pp") o.scales.y.ticks = { callback: tickLabel("", true) };
    if (spec.kind === "spectrum") {
      o.scales.y.ticks = { callback: function (v) {
        var m = v / Math.pow(10, Math.floor(Math.log10(v)));
        if (Math.abs(m - 1) > 1e-9) return "";
        return v >= 1e-3 && v < 1e5 ? String(+v.toPrecision(1)) : v.toExponential(0);
      } };
    }
    cfg.plugins = [errorBars];
    return new Chart(document.getElementById("chart-" + spec.id), cfg);
  }

  var charts = [];
  payload.charts.forEach(function (spec) {
    try {
      charts.push(build(spec));
    } catch (err) {
      errors.push(spec.id + ": " + err);
      console.error("chart " + spec.id + " failed:", err);
    }
  });
  // animation: false renders synchronously; one frame later the canvases are on screen.
  requestAnimationFrame(function () {
    document.body.setAttribute("data-charts-ready", String(charts.length));
    window.__reportReady = true;
  });
})();
`;
