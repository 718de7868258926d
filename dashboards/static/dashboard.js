/*
 * The embedded fraudwatch dashboards (served by dashboards/server.py).
 *
 * Lays out a Grafana dashboard JSON model (/dashboards/<slug>.json) on the same 24-column grid,
 * fetches each panel's rows from /dashboards/api/<slug>/<panel id>, and draws them with plotly.js
 * (or as a table / big number). The dashboard's annotation layers (/dashboards/api/<slug>/annotations/<n>,
 * rows of time, timeEnd, title, text, tags) are drawn on every time-series panel as shaded spans. Time range, refresh interval and template variables live in the
 * URL with Grafana's parameter names (from, to, refresh, var-<name>), so links can be shared.
 *
 * Safety: nothing from the server is ever parsed as HTML. Text goes in with textContent, and the
 * strings handed to plotly (which understands a little HTML in labels) are entity-escaped first.
 */
"use strict";

(function () {
  const slug = document.body.dataset.slug;
  const grid = document.getElementById("grid");
  const controls = document.getElementById("controls");
  const statusLine = document.getElementById("status");

  const RANGES = [
    ["Last 15 minutes", "now-15m", "now"],
    ["Last 1 hour", "now-1h", "now"],
    ["Last 6 hours", "now-6h", "now"],
    ["Last 24 hours", "now-24h", "now"],
    ["Today so far", "now/d", "now"],
    ["Last 7 days", "now-7d", "now"],
    ["Last 30 days", "now-30d", "now"],
  ];
  const REFRESH = [["Off", ""], ["5s", "5s"], ["10s", "10s"], ["30s", "30s"], ["1m", "1m"], ["5m", "5m"]];
  const COLORS = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0",
    "#508642", "#cca300", "#447ebc", "#c15c17"];

  const state = { from: "", to: "", refresh: "", vars: {} };
  let model = null;
  let timer = null;
  let inFlight = false;
  let generation = 0;
  const panels = new Map();
  let marks = []; // annotation rows of the current refresh: {time, timeEnd, title, text, tags}

  /** Entity-escape text for plotly, whose labels accept a few HTML tags. */
  function esc(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  /** A label short enough for an axis or legend; the hover text keeps the whole of it. */
  function short(value) {
    const text = String(value);
    return text.length > 28 ? text.slice(0, 27) + "…" : text;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function durationMs(text) {
    const match = /^(\d+)(s|m|h)$/.exec(text || "");
    if (!match) return 0;
    return Number(match[1]) * { s: 1000, m: 60000, h: 3600000 }[match[2]];
  }

  // --- value formatting (the Grafana units these dashboards use) ---------------------------------

  function grouped(value, decimals) {
    return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  }

  function formatValue(value, unit, decimals) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    const d = decimals === undefined || decimals === null ? (Number.isInteger(value) ? 0 : 2) : decimals;
    unit = unit || "short";
    if (unit === "percentunit") return grouped(value * 100, d) + "%";
    if (unit === "percent") return grouped(value, d) + "%";
    if (unit === "s") return grouped(value, d) + " s";
    if (unit.startsWith("currency:") || unit.startsWith("prefix:")) return unit.slice(unit.indexOf(":") + 1) + grouped(value, d);
    if (unit.startsWith("suffix:")) return grouped(value, d) + unit.slice(7);
    return grouped(value, d);
  }

  function fieldUnit(panel, column) {
    const config = panel.fieldConfig || {};
    let unit = (config.defaults || {}).unit;
    for (const override of config.overrides || []) {
      if (override.matcher && override.matcher.id === "byName" && override.matcher.options === column) {
        for (const property of override.properties || []) if (property.id === "unit") unit = property.value;
      }
    }
    return unit;
  }

  function fieldDecimals(panel) {
    return ((panel.fieldConfig || {}).defaults || {}).decimals;
  }

  // --- URL state ----------------------------------------------------------------------------------

  function readUrl() {
    const params = new URLSearchParams(window.location.search);
    state.from = params.get("from") || model.time.from;
    state.to = params.get("to") || model.time.to;
    state.refresh = params.has("refresh") ? params.get("refresh") : (model.refresh || "");
    state.vars = {};
    for (const variable of userVariables()) {
      const values = params.getAll("var-" + variable.name);
      state.vars[variable.name] = values.length ? values : ["$__all"];
    }
  }

  function writeUrl() {
    const params = new URLSearchParams();
    params.set("from", state.from);
    params.set("to", state.to);
    params.set("refresh", state.refresh);
    for (const [name, values] of Object.entries(state.vars)) for (const v of values) params.append("var-" + name, v);
    window.history.replaceState(null, "", "?" + params.toString());
  }

  function userVariables() {
    return ((model.templating || {}).list || []).filter((v) => v.type === "custom" && v.hide !== 2);
  }

  // --- controls -------------------------------------------------------------------------------------

  function select(labelText, name, options, current, onChange) {
    const label = el("label", "control");
    label.appendChild(el("span", "control-label", labelText));
    const box = document.createElement("select");
    box.name = name;
    for (const [text, value] of options) {
      const option = el("option", null, text);
      option.value = value;
      if (value === current) option.selected = true;
      box.appendChild(option);
    }
    box.addEventListener("change", () => onChange(box.value));
    label.appendChild(box);
    controls.appendChild(label);
    return box;
  }

  function buildControls() {
    controls.replaceChildren();
    for (const variable of userVariables()) {
      const options = [["All", "$__all"]];
      for (const option of variable.options || []) if (option.value !== "$__all") options.push([option.text, option.value]);
      const current = state.vars[variable.name];
      if (current.length > 1) options.push([current.length + " selected", current.join(",")]);
      select(variable.label || variable.name, "var-" + variable.name, options, current.join(","), (value) => {
        state.vars[variable.name] = value.split(",");
        changed();
      });
    }
    const ranges = RANGES.map(([text, from, to]) => [text, from + "|" + to]);
    const currentRange = state.from + "|" + state.to;
    if (!ranges.some(([, value]) => value === currentRange)) ranges.push(["Custom range", currentRange]);
    select("Time range", "range", ranges, currentRange, (value) => {
      [state.from, state.to] = value.split("|");
      changed();
    });
    const refreshes = REFRESH.slice();
    if (!refreshes.some(([, value]) => value === state.refresh)) refreshes.push([state.refresh, state.refresh]);
    select("Refresh", "refresh", refreshes, state.refresh, (value) => {
      state.refresh = value;
      changed();
    });
  }

  function changed() {
    writeUrl();
    schedule();
    refreshAll();
  }

  // --- panels ---------------------------------------------------------------------------------------

  function buildPanels() {
    grid.replaceChildren();
    for (const panel of model.panels || []) {
      const pos = panel.gridPos || { x: 0, y: 0, w: 24, h: 8 };
      const section = el("section", "panel panel-" + panel.type);
      section.dataset.panelId = String(panel.id);
      section.dataset.panelType = panel.type;
      section.dataset.state = "loading";
      section.dataset.updates = "0";
      section.style.gridColumn = pos.x + 1 + " / span " + pos.w;
      section.style.gridRow = pos.y + 1 + " / span " + pos.h;
      const header = el("h2", "panel-title", panel.title);
      if (panel.description) header.title = panel.description;
      section.appendChild(header);
      const body = el("div", "panel-body");
      section.appendChild(body);
      grid.appendChild(section);
      panels.set(panel.id, { panel, section, body });
    }
  }

  function dataUrl(panelId) {
    return "/dashboards/api/" + encodeURIComponent(slug) + "/" + panelId + "?" + queryString();
  }

  function queryString() {
    const params = new URLSearchParams();
    params.set("from", state.from);
    params.set("to", state.to);
    for (const [name, values] of Object.entries(state.vars)) for (const v of values) params.append("var-" + name, v);
    return params.toString();
  }

  /** Every annotation layer's rows; a layer that fails is left out (the panels still draw). */
  async function refreshMarks() {
    const layers = ((model.annotations || {}).list || []).filter((layer) => layer.target && layer.enable !== false);
    const found = [];
    await Promise.all(layers.map(async (layer, index) => {
      try {
        const url = "/dashboards/api/" + encodeURIComponent(slug) + "/annotations/" + index + "?" + queryString();
        const response = await fetch(url, { cache: "no-store" });
        if (!response.ok) return;
        const data = await response.json();
        const names = (data.columns || []).map((c) => c.name);
        for (const row of data.rows || []) {
          const mark = Object.fromEntries(names.map((name, i) => [name, row[i]]));
          mark.color = layer.iconColor || "red";
          found.push(mark);
        }
      } catch (error) {
        // shown by the count on the page only
      }
    }));
    marks = found;
    document.body.dataset.marks = String(marks.length);
  }

  function markShapes() {
    return marks.map((m) => ({
      type: "rect", xref: "x", yref: "paper", x0: m.time, x1: m.timeEnd || m.time, y0: 0, y1: 1,
      fillcolor: m.color, opacity: 0.12, line: { color: m.color, width: 1 },
    }));
  }

  function markLabels() {
    return marks.map((m) => ({
      x: m.time, xref: "x", y: 1, yref: "paper", yanchor: "top", showarrow: false, text: "▼",
      font: { color: m.color, size: 10 }, hovertext: esc(m.text || m.title || ""),
    }));
  }

  async function refreshPanel(entry, myGeneration) {
    let data;
    try {
      const response = await fetch(dataUrl(entry.panel.id), { cache: "no-store" });
      data = await response.json();
      if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
    } catch (error) {
      if (myGeneration === generation) showError(entry, error);
      return false;
    }
    if (myGeneration !== generation) return true;
    try {
      await render(entry, data);
    } catch (error) {
      showError(entry, error);
      return false;
    }
    entry.section.dataset.updates = String(Number(entry.section.dataset.updates) + 1);
    return true;
  }

  async function refreshAll() {
    if (inFlight) return;
    inFlight = true;
    const myGeneration = ++generation;
    try {
      await refreshMarks();
      const results = await Promise.all([...panels.values()].map((entry) => refreshPanel(entry, myGeneration)));
      const failed = results.filter((ok) => !ok).length;
      const time = new Date().toLocaleTimeString("en-GB", { hour12: false });
      statusLine.textContent = failed ? "updated " + time + ", " + failed + " panel(s) failed" : "updated " + time;
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    } finally {
      inFlight = false;
    }
  }

  function schedule() {
    if (timer) window.clearInterval(timer);
    timer = null;
    const every = durationMs(state.refresh);
    if (every > 0) timer = window.setInterval(refreshAll, every);
  }

  function showError(entry, error) {
    if (window.Plotly) window.Plotly.purge(entry.body);
    entry.body.replaceChildren(el("p", "panel-error", String(error && error.message ? error.message : error)));
    entry.section.dataset.state = "error";
  }

  function showEmpty(entry) {
    if (window.Plotly) window.Plotly.purge(entry.body);
    entry.body.replaceChildren(el("p", "panel-empty", "No data"));
    entry.section.dataset.state = "empty";
    entry.section.dataset.rows = "0";
  }

  // --- renderers ------------------------------------------------------------------------------------

  function baseLayout() {
    return {
      autosize: true,
      margin: { l: 48, r: 12, t: 8, b: 32 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: "#ccccdc", size: 11, family: "Inter, Helvetica, Arial, sans-serif" },
      colorway: COLORS,
      showlegend: true,
      legend: { orientation: "h", y: -0.18, x: 0 },
      hovermode: "closest",
    };
  }

  async function plot(entry, traces, layout) {
    let chart = entry.body.querySelector(".chart");
    if (!chart) {
      entry.body.replaceChildren();
      chart = el("div", "chart");
      entry.body.appendChild(chart);
    }
    await window.Plotly.react(chart, traces, layout, { displayModeBar: false, responsive: true });
    entry.section.dataset.traces = String(chart.data.length);
    entry.section.dataset.points = String(traces.reduce((n, t) => n + (t.values || t.y || []).length, 0));
  }

  async function render(entry, data) {
    const { panel, section } = entry;
    const rows = data.rows || [];
    const columns = (data.columns || []).map((c) => c.name);
    section.dataset.rows = String(rows.length);
    if (panel.type === "stat") return renderStat(entry, rows, columns);
    if (!rows.length) return showEmpty(entry);
    section.dataset.state = "ok";
    if (panel.type === "table") return renderTable(entry, rows, columns);
    if (panel.type === "timeseries") return renderTimeSeries(entry, rows, columns, data);
    if (panel.type === "piechart") return renderPie(entry, rows, columns);
    if (panel.type === "barchart" || panel.type === "bargauge") return renderBars(entry, rows, columns);
    throw new Error("unsupported panel type " + panel.type);
  }

  function renderStat(entry, rows, columns) {
    const { panel, section, body } = entry;
    const value = rows.length && rows[0].length ? rows[0][0] : null;
    const text = value === null ? ((panel.fieldConfig || {}).defaults || {}).noValue || "–"
      : formatValue(value, fieldUnit(panel, columns[0]), fieldDecimals(panel));
    let big = body.querySelector(".stat-value");
    if (!big) {
      body.replaceChildren();
      big = el("div", "stat-value");
      body.appendChild(big);
    }
    big.textContent = text;
    section.dataset.value = value === null ? "" : String(value);
    section.dataset.state = value === null ? "empty" : "ok";
  }

  function renderTable(entry, rows, columns) {
    const { panel, body } = entry;
    const table = el("table", "data-table");
    const head = table.createTHead().insertRow();
    for (const name of columns) head.appendChild(el("th", null, name));
    const tbody = table.createTBody();
    const units = columns.map((name) => fieldUnit(panel, name));
    for (const row of rows) {
      const tr = tbody.insertRow();
      row.forEach((cell, i) => {
        const td = el("td", typeof cell === "number" ? "num" : null, typeof cell === "number"
          ? formatValue(cell, units[i], Number.isInteger(cell) ? 0 : 2) : cell === null ? "" : String(cell));
        if (typeof cell === "string") td.title = cell;
        tr.appendChild(td);
      });
    }
    if (window.Plotly) window.Plotly.purge(body);
    body.replaceChildren(table);
    entry.section.dataset.points = String(rows.length);
  }

  function renderTimeSeries(entry, rows, columns, data) {
    const { panel } = entry;
    const stacked = (((panel.fieldConfig || {}).defaults || {}).custom || {}).stacking;
    const isStacked = stacked && stacked.mode && stacked.mode !== "none";
    const x = rows.map((r) => r[0]);
    const traces = columns.slice(1).map((name, i) => ({
      type: "scatter",
      mode: "lines",
      name: esc(name),
      x: x,
      y: rows.map((r) => r[i + 1]),
      line: { width: 1.5, color: COLORS[i % COLORS.length] },
      stackgroup: isStacked ? "stack" : undefined,
      hovertemplate: "%{x}<br>" + esc(name) + ": %{y:,.2f}<extra></extra>",
    }));
    const layout = baseLayout();
    layout.xaxis = { type: "date", gridcolor: "#2c3235", range: data.range };
    layout.yaxis = { gridcolor: "#2c3235", rangemode: "tozero", tickformat: "~s" };
    layout.hovermode = "x unified";
    layout.legend.traceorder = "normal";
    layout.shapes = markShapes();
    layout.annotations = markLabels();
    entry.section.dataset.marks = String(marks.length);
    return plot(entry, traces, layout);
  }

  function renderPie(entry, rows) {
    const traces = [{
      type: "pie",
      hole: 0.45,
      sort: false,
      labels: rows.map((r) => esc(short(r[0]))),
      values: rows.map((r) => r[1]),
      customdata: rows.map((r) => esc(r[0])),
      textinfo: "percent",
      marker: { colors: COLORS },
      hovertemplate: "%{customdata}: %{value:,}<extra></extra>",
    }];
    const layout = baseLayout();
    layout.legend = { orientation: "v", x: 1, y: 0.5 };
    layout.margin = { l: 8, r: 8, t: 8, b: 8 };
    return plot(entry, traces, layout);
  }

  function renderBars(entry, rows, columns) {
    const { panel } = entry;
    const gauge = panel.type === "bargauge";
    // Category labels must be unique on a plotly axis: shortened ones get an invisible rank suffix.
    const labels = rows.map((r, i) => esc(short(r[0])) + "\u200b".repeat(i));
    const traces = columns.slice(1).map((name, i) => ({
      type: "bar",
      orientation: "h",
      name: esc(name),
      y: labels,
      x: rows.map((r) => r[i + 1]),
      marker: { color: rows.map((r) => thresholdColor(panel, r[i + 1]) || COLORS[i % COLORS.length]) },
      text: rows.map((r) => formatValue(r[i + 1], fieldUnit(panel, name), fieldDecimals(panel))),
      customdata: rows.map((r) => esc(r[0])),
      textposition: "auto",
      hovertemplate: "%{customdata}: %{text}<extra></extra>",
    }));
    const layout = baseLayout();
    layout.showlegend = traces.length > 1;
    layout.margin = { l: 150, r: 12, t: 8, b: 28 };
    layout.yaxis = { autorange: "reversed", automargin: true, type: "category" };
    const max = ((panel.fieldConfig || {}).defaults || {}).max;
    layout.xaxis = { gridcolor: "#2c3235", rangemode: "tozero", range: gauge && max ? [0, max] : undefined };
    return plot(entry, traces, layout);
  }

  /** The colour of the panel's threshold step `value` reaches, when it colours by thresholds. */
  function thresholdColor(panel, value) {
    const defaults = (panel.fieldConfig || {}).defaults || {};
    if (!defaults.color || defaults.color.mode !== "thresholds") return null;
    let colour = null;
    for (const step of (defaults.thresholds || {}).steps || []) {
      if (step.value === null || step.value === undefined || value >= step.value) colour = step.color;
    }
    return colour;
  }

  // --- start ------------------------------------------------------------------------------------------

  async function start() {
    const response = await fetch("/dashboards/" + encodeURIComponent(slug) + ".json", { cache: "no-store" });
    if (!response.ok) throw new Error("cannot load the dashboard model (HTTP " + response.status + ")");
    model = await response.json();
    readUrl();
    writeUrl();
    buildControls();
    buildPanels();
    schedule();
    await refreshAll();
  }

  start().catch((error) => {
    statusLine.textContent = String(error && error.message ? error.message : error);
    document.body.dataset.failed = "1";
  });
})();
