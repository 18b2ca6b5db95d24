/* Volta dashboard: charts (uPlot) and small htmx helpers. No inline script
   runs (the pages' Content-Security-Policy forbids it): chart data sits in
   <script type="application/json"> blocks that this file reads. */
(function () {
  "use strict";

  const BLUE = "#2563eb", GREEN = "#0e9f6e", AMBER = "#d97706", RED = "#dc2626";
  const PALETTE = ["#64748b", "#7c3aed", "#db2777", "#0891b2", "#ca8a04", "#4d7c0f"];

  function data(el) {
    // A fragment htmx swaps in keeps no <script> (allowScriptTags is off):
    // charts on polled fragments carry their data in data-json instead.
    if (el.dataset.json) return JSON.parse(el.dataset.json);
    const block = el.querySelector('script[type="application/json"]');
    return block ? JSON.parse(block.textContent) : null;
  }

  function width(el) {
    return Math.max(280, el.clientWidth || el.parentElement.clientWidth || 600);
  }

  function axis(label, extra) {
    return Object.assign({ label: label, stroke: "#475569", grid: { stroke: "#eef1f5" }, ticks: { stroke: "#e2e8f0" } }, extra || {});
  }

  function options(el, kind, d) {
    const h = el.classList.contains("small-chart") ? 160 : 260;
    if (kind === "session" || kind === "soc") return sessionChart(el, kind, d, h);
    if (kind === "site") {
      // Limit vs allocated vs drawn (A per phase), then each EVSE's draw.
      const styles = {
        limit: { stroke: RED, width: 2, dash: [6, 4] },
        allocated: { stroke: BLUE, width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
        drawn: { stroke: GREEN, width: 2, fill: "rgba(14,159,110,0.10)", paths: uPlot.paths.stepped({ align: 1 }) },
      };
      const series = [{}].concat(d.series.map(function (s, i) {
        const style = styles[s.kind] || { stroke: PALETTE[i % PALETTE.length], width: 1, paths: uPlot.paths.stepped({ align: 1 }) };
        return Object.assign({ label: s.label, spanGaps: true, points: { show: false } }, style);
      }));
      return [{
        width: width(el), height: h,
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
        series: series,
        axes: [axis(), axis("A")],
      }, [d.x].concat(d.series.map(function (s) { return s.values; }))];
    }
    const color = el.dataset.color || BLUE;
    const label = el.dataset.label || "";
    const series = { label: label, stroke: color, width: 2, fill: color + "33" };
    const scales = { x: { time: true }, y: { range: function (u, min, max) {
      const top = max > 0 ? max * 1.1 : 1;
      return [0, el.hasAttribute("data-integer") ? Math.max(1, Math.ceil(top)) : top];
    } } };
    let y = d.y;
    if (kind === "bars") {
      series.paths = uPlot.paths.bars({ size: [0.6, 48] });
      series.points = { show: false };
      y = d.y.map(function (v) { return v === 0 ? null : v; });  // no bar on an empty day
      // Half a day either side, so the first and last bars are whole.
      scales.x.range = function (u, min, max) { return [min - 43200, max + 43200]; };
    } else if (kind === "steps") {
      series.paths = uPlot.paths.stepped({ align: 1 });
    }
    const yAxis = axis(label);
    if (el.hasAttribute("data-integer")) yAxis.incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
    return [{
      width: width(el), height: h,
      scales: scales,
      series: [{}, series],
      axes: [axis(), yAxis],
    }, [d.x, y]];
  }

  /* -- console part B: the session chart (energy and power; state of charge) --
     Times in the page's time zone (body data-tz); a session with one sample
     (or a few seconds of them) gets a window of minutes around it, not the
     multi-year axis uPlot draws for a zero-width range. */
  function sessionChart(el, kind, d, h) {
    const tz = document.body.dataset.tz;
    const tzDate = tz ? function (ts) { return uPlot.tzDate(new Date(ts * 1e3), tz); } : undefined;
    // From the samples' own extent: uPlot widens a one-point range to a day.
    const x = { time: true, range: function (u, min, max) {
      const xs = (u.data && u.data[0]) || [];
      const lo = xs.length ? xs[0] : min, hi = xs.length ? xs[xs.length - 1] : max;
      if (!(hi - lo >= 600)) {
        const mid = (lo + hi) / 2 || Date.now() / 1e3;
        return [mid - 300, mid + 300];
      }
      return [min, max];
    } };
    if (kind === "soc") {
      return [{
        width: width(el), height: h, tzDate: tzDate,
        scales: { x: x, y: { range: [0, 100] } },
        series: [{}, { label: (el.dataset.socLabel || "SoC") + " (%)", stroke: GREEN, width: 2 }],
        axes: [axis(), axis("%")],
      }, [d.soc_x, d.soc]];
    }
    return [{
      width: width(el), height: h, tzDate: tzDate,
      scales: { x: x, kwh: { auto: true }, kw: { auto: true } },
      series: [
        {},
        { label: el.dataset.energyLabel || "Energy (kWh)", scale: "kwh", stroke: BLUE, width: 2, fill: "rgba(37,99,235,0.08)", spanGaps: true },
        { label: el.dataset.powerLabel || "Power (kW)", scale: "kw", stroke: AMBER, width: 2, spanGaps: true },
      ],
      axes: [axis(), axis("kWh", { scale: "kwh" }), axis("kW", { scale: "kw", side: 1, grid: { show: false } })],
    }, [d.x, d.energy, d.power]];
  }
  /* -- (end of part B) -- */

  function draw(root) {
    if (typeof uPlot === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      const d = data(el);
      if (!d) return;
      if (el._plot) { el._plot.destroy(); }
      const made = options(el, el.dataset.chart, d);
      el._plot = new uPlot(made[0], made[1], el);
      el.classList.add("drawn");
    });
  }

  function toast(text) {
    const t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text;
    t.hidden = false;
    clearTimeout(t._timer);
    t._timer = setTimeout(function () { t.hidden = true; }, 6000);
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (e) { draw(e.target); });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el._plot) el._plot.setSize({ width: width(el), height: el._plot.height });
    });
  });
  // A polled fragment must not close what the user opened in it.
  document.addEventListener("htmx:beforeRequest", function (e) {
    const el = e.detail.elt;
    if (el && el.id === "frame-log" && el.querySelector("details[open]")) e.preventDefault();
  });
  document.addEventListener("htmx:responseError", function (e) {
    const xhr = e.detail.xhr;
    let text = xhr.status + " " + xhr.statusText;
    try { text = JSON.parse(xhr.responseText).detail || text; } catch (_) { /* not JSON */ }
    toast(text);
  });
  // A form marked data-reset empties itself once its request succeeded.
  document.addEventListener("htmx:afterRequest", function (e) {
    const el = e.detail.elt;
    const failed = e.detail.xhr && e.detail.xhr.getResponseHeader("X-Volta-Outcome") === "error";
    if (e.detail.successful && !failed && el && el.matches && el.matches("form[data-reset]")) el.reset();
  });
  document.addEventListener("htmx:sendError", function () { toast("Volta cannot be reached."); });
})();

/* == console part D (event log): its functions below == */
(function () {
  "use strict";
  // The event log's live poll asks only for events newer than the newest row shown.
  document.addEventListener("htmx:configRequest", function (e) {
    const el = e.detail.elt;
    if (!el || el.id !== "events-live") return;
    const first = document.querySelector("#event-rows tr[data-event]");
    e.detail.parameters.after = first ? first.dataset.event : el.dataset.after || "0";
  });
  // New rows went on top: drop the "no events" row and keep at most data-max rows.
  document.addEventListener("htmx:afterSwap", function (e) {
    const el = e.detail.elt;
    if (!(el && el.id === "events-live") && !(e.target && e.target.id === "event-rows")) return;
    const body = document.getElementById("event-rows");
    if (!body) return;
    const rows = body.querySelectorAll("tr[data-event]");
    if (rows.length) body.querySelectorAll("tr.ig-none").forEach(function (r) { r.remove(); });
    const max = parseInt(body.dataset.max || "200", 10);
    for (let i = max; i < rows.length; i++) rows[i].remove();
  });
})();
/* (end of part D) */
/* == console part A (stations): the station page's "Change availability" == */
// The whole station (connector 0) made Inoperative asks first: the form's
// data-confirm-station is the question (already in the user's language).
document.addEventListener("htmx:confirm", function (e) {
  const form = e.detail.elt;
  if (!form || !form.dataset || !form.dataset.confirmStation) return;
  const data = new FormData(form);
  if (data.get("connector") !== "0" || data.get("state") !== "Inoperative") return;
  e.preventDefault();
  if (window.confirm(form.dataset.confirmStation)) e.detail.issueRequest(true);
});
/* (end of part A) */
