// The KPI view: trend lines by day or week (GET /v1/kpi?period=...), drawn as small inline SVG charts.

import { getJson } from "./api.js";
import { errorBox, fmtUsd, h, setChildren } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#0d9488", "#7c3aed", "#d97706", "#db2777", "#64748b", "#16a34a", "#dc2626"];
const METRICS = [
  { key: "resolved_share", title: "Resolved without a human", fmt: (v) => `${Math.round(v * 100)}%`, max: 1 },
  { key: "good_share", title: "Rated good", fmt: (v) => `${Math.round(v * 100)}%`, max: 1 },
  { key: "handling_s", title: "Handling time", fmt: (v) => (v >= 120 ? `${(v / 60).toFixed(1)} min` : `${Math.round(v)} s`) },
  { key: "cost_per_resolved_usd", title: "Cost per resolved question", fmt: fmtUsd },
];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) if (child) el.append(child);
  return el;
}

/** The label of a trend point's group ("rag", "hybrid · voice@2", "tenant acme", "all"). */
function seriesName(point, group) {
  const parts = group.map((key) => (key === "tenant" ? `tenant ${point.tenant}` : point[key] || (key === "adapter" ? "no adapter" : "?")));
  return parts.join(" · ") || "all";
}

/** One line chart: x = periods, y = the metric, one line per series. */
function chart(metric, periods, series) {
  const width = 420;
  const height = 180;
  const pad = { left: 70, right: 12, top: 12, bottom: 28 };
  const values = series.flatMap((s) => s.points.map((p) => p[metric.key])).filter(Number.isFinite);
  const top = metric.max ?? (Math.max(...values, 0) * 1.1 || 1);
  const x = (i) => pad.left + (periods.length > 1 ? (i / (periods.length - 1)) * (width - pad.left - pad.right) : (width - pad.left - pad.right) / 2);
  const y = (v) => pad.top + (1 - v / top) * (height - pad.top - pad.bottom);
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "kpi-chart", role: "img", "aria-label": `${metric.title} by period` });
  for (const tick of [0, 0.5, 1]) {
    plot.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(top * tick), y2: y(top * tick), class: "grid" }));
    plot.append(svg("text", { x: pad.left - 6, y: y(top * tick) + 4, "text-anchor": "end", class: "tick" }, document.createTextNode(metric.fmt(top * tick))));
  }
  const labelEvery = Math.ceil(periods.length / 6);
  periods.forEach((period, i) => {
    if (i % labelEvery === 0) plot.append(svg("text", { x: x(i), y: height - 8, "text-anchor": "middle", class: "tick" }, document.createTextNode(period.slice(5))));
  });
  series.forEach((s) => {
    const pts = s.points
      .map((p) => [periods.indexOf(p.period), p[metric.key]])
      .filter(([, v]) => Number.isFinite(v));
    if (!pts.length) return;
    plot.append(svg("polyline", { points: pts.map(([i, v]) => `${x(i)},${y(v)}`).join(" "), fill: "none", stroke: s.color, "stroke-width": 2, class: "kpi-line", "data-series": s.name }));
    for (const [i, v] of pts) {
      plot.append(svg("circle", { cx: x(i), cy: y(v), r: 3.5, fill: s.color },
        svg("title", {}, document.createTextNode(`${s.name}, ${periods[i]}: ${metric.fmt(v)}`))));
    }
  });
  return h("figure", { class: "card kpi-figure", dataset: { metric: metric.key } }, h("figcaption", {}, metric.title), plot);
}

/** Wire up the KPI view; returns its loader. */
export function initKpi() {
  const period = document.getElementById("kpi-period");
  const group = document.getElementById("kpi-group");
  const output = document.getElementById("kpi-output");

  async function load() {
    output.setAttribute("aria-busy", "true");
    try {
      const query = new URLSearchParams({ period: period.value, group: group.value });
      const body = await getJson(`/v1/kpi?${query}`);
      const periods = [...new Set(body.trend.map((p) => p.period))].sort();
      if (!periods.length) {
        setChildren(output, h("p", { class: "empty" }, "No answered requests yet: the trends start with the first answer and its feedback."));
        return;
      }
      const byName = new Map();
      for (const point of body.trend) {
        const name = seriesName(point, body.group);
        if (!byName.has(name)) byName.set(name, { name, points: [], color: PALETTE[byName.size % PALETTE.length] });
        byName.get(name).points.push(point);
      }
      const series = [...byName.values()];
      setChildren(output,
        h("ul", { class: "kpi-legend", "aria-label": "Lines" }, series.map((s) =>
          h("li", {}, h("span", { class: "swatch", style: { background: s.color } }), s.name))),
        h("div", { class: "kpi-charts" }, METRICS.map((m) => chart(m, periods, series))),
        h("p", { class: "muted small" },
          `${body.requests} requests, ${body.rated} with feedback. Periods are UTC ${body.period === "week" ? "weeks (from Monday)" : "days"}; a request counts in the period it was asked.`));
    } catch (error) {
      setChildren(output, errorBox(error));
    } finally {
      output.setAttribute("aria-busy", "false");
    }
  }

  period.addEventListener("change", load);
  group.addEventListener("change", load);
  return load;
}
