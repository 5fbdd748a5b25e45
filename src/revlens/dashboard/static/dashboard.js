// revlens dashboard: draws each page's charts with the local ECharts from the rows the
// server embedded in <script type="application/json" id="page-data"> (the same rows as the
// page's JSON twin). A static file, because the Content-Security-Policy forbids inline
// scripts. Each chart element starts with a "Loading chart…" placeholder; once drawn it
// gets aria-busy="false" and data-rendered="true" (or "error" when ECharts is missing).
(function () {
  "use strict";

  var PALETTE = [
    "#0b5cad", "#e07b00", "#1a7f37", "#b42318", "#7048e8", "#0f8b8d",
    "#c2255c", "#5c6b00", "#6e7781", "#a0522d", "#1f9bd1", "#d4a72c",
  ];
  var charts = [];

  function pageData() {
    var el = document.getElementById("page-data");
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function finite(v) { return typeof v === "number" && isFinite(v); }

  // A value as the tables show it: 1,659 / 1,992,176.44 / 34.3% / n/a.
  function fmt(v, unit) {
    if (!finite(v)) { return "n/a"; }
    if (unit === "percent") { return (v * 100).toFixed(1) + "%"; }
    var two = unit === "money" || unit === "ratio" || unit === "days" || unit === "minutes" ||
      !Number.isInteger(v);
    return v.toLocaleString("en-US", {
      minimumFractionDigits: two ? 2 : 0, maximumFractionDigits: two ? 2 : 0,
    });
  }

  // An axis label: 1.2M, 35k, 40%.
  function short(v, unit) {
    if (!finite(v)) { return ""; }
    if (unit === "percent") { return Math.round(v * 100) + "%"; }
    var a = Math.abs(v);
    if (a >= 1e9) { return (v / 1e9).toFixed(1) + "B"; }
    if (a >= 1e6) { return (v / 1e6).toFixed(1) + "M"; }
    if (a >= 1e3) { return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k"; }
    return String(Math.round(v * 100) / 100);
  }

  function placeholder(el, text) {
    var p = el.querySelector(".chart-loading");
    if (p) { p.textContent = text; }
  }

  function mount(el, option) {
    if (!el) { return null; }
    if (typeof window.echarts === "undefined") {
      placeholder(el, "The chart could not load; the table has the same numbers.");
      el.setAttribute("aria-busy", "false");
      el.dataset.rendered = "error";
      return null;
    }
    var p = el.querySelector(".chart-loading");
    if (p) { p.remove(); }
    var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    option.color = option.color || PALETTE;
    option.aria = { enabled: true };
    option.animation = !reduce && option.animation !== false;
    option.animationDuration = 300;
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.on("finished", function () { el.dataset.rendered = "true"; });
    chart.setOption(option);
    el.setAttribute("aria-busy", "false");
    charts.push(chart);
    return chart;
  }

  function legend(count) {
    return count > 1 ? { type: "scroll", top: 0, left: 0, right: 0 } : { show: false };
  }

  function tooltipFor(unit) {
    return {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      valueFormatter: function (v) { return fmt(v, unit); },
      confine: true,
    };
  }

  // -- pages ----------------------------------------------------------------------------

  function overview(data) {
    document.querySelectorAll('[data-chart="spark"]').forEach(function (el) {
      var kpi = el.dataset.kpi;
      var unit = data.units[kpi];
      var points = data.series.filter(function (r) { return r.kpi === kpi; });
      mount(el, {
        grid: { left: 2, right: 2, top: 4, bottom: 4 },
        tooltip: {
          trigger: "axis", confine: true,
          valueFormatter: function (v) { return fmt(v, unit); },
        },
        xAxis: {
          type: "category", show: false, boundaryGap: false,
          data: points.map(function (r) { return r.period_start; }),
        },
        yAxis: { type: "value", show: false, scale: true },
        series: [{
          name: data.names[kpi], type: "line", showSymbol: false, smooth: false,
          lineStyle: { width: 2 }, areaStyle: { opacity: 0.12 },
          data: points.map(function (r) { return r.value; }),
        }],
      });
    });
  }

  function funnel(data) {
    var key = {};
    data.rows.forEach(function (r) {
      var group = data.by ? (r[data.by] === null ? "(none)" : String(r[data.by])) : "All";
      key[group + "\u0000" + r.stage] = r;
    });
    var single = data.series.length === 1;
    var el = document.getElementById("funnel-chart");
    if (el && !single) {  // room for every bar: stages x groups
      el.style.height = Math.max(360, data.stages.length * data.series.length * 11 + 90) + "px";
    }
    mount(el, {
      legend: legend(data.series.length),
      grid: { left: 8, right: single ? 130 : 24, top: single ? 8 : 36, bottom: 8, containLabel: true },
      tooltip: {
        trigger: "axis", axisPointer: { type: "shadow" }, confine: true,
        formatter: function (items) {
          var lines = [items[0].axisValue];
          items.forEach(function (it) {
            var r = key[it.seriesName + "\u0000" + it.axisValue] || {};
            var text = it.marker + it.seriesName + ": " + fmt(it.value, "count");
            if (finite(r.conversion_from_first)) { text += " · " + fmt(r.conversion_from_first, "percent") + " of first"; }
            if (finite(r.conversion_from_previous)) { text += " · " + fmt(r.conversion_from_previous, "percent") + " of previous"; }
            lines.push(text);
          });
          return lines.join("<br>");
        },
      },
      xAxis: { type: "value", axisLabel: { hideOverlap: true, formatter: function (v) { return short(v, "count"); } } },
      yAxis: { type: "category", inverse: true, data: data.stages },
      series: data.series.map(function (s) {
        return {
          name: s.name, type: "bar", data: s.data,
          label: single ? {
            show: true, position: "right",
            formatter: function (p) {
              var r = key[s.name + "\u0000" + p.name] || {};
              return fmt(p.value, "count") + " (" + fmt(r.conversion_from_first, "percent") + ")";
            },
          } : { show: false },
        };
      }),
    });
  }

  function attribution(data) {
    var money = data.measure === "value";
    var unit = money ? "money" : "ratio";
    var rotate = data.channels.length > 5 ? 35 : 0;
    mount(document.getElementById("attribution-chart"), {
      legend: legend(data.series.length),
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      tooltip: tooltipFor(unit),
      xAxis: { type: "category", data: data.channels, axisLabel: { interval: 0, rotate: rotate } },
      yAxis: { type: "value", axisLabel: { formatter: function (v) { return short(v, unit); } } },
      series: data.series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; }),
    });
    mount(document.getElementById("roi-chart"), {
      legend: legend(data.roi_series.length),
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      tooltip: tooltipFor("percent"),
      xAxis: { type: "category", data: data.channels, axisLabel: { interval: 0, rotate: rotate } },
      yAxis: { type: "value", axisLabel: { formatter: function (v) { return short(v, "percent"); } } },
      series: data.roi_series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; }),
    });
  }

  function trends(data) {
    mount(document.getElementById("trend-chart"), {
      legend: legend(data.series.length),
      grid: { left: 8, right: 40, top: data.series.length > 1 ? 36 : 12, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", confine: true, valueFormatter: function (v) { return fmt(v, data.unit); } },
      xAxis: { type: "category", boundaryGap: false, data: data.periods },
      yAxis: { type: "value", axisLabel: { formatter: function (v) { return short(v, data.unit); } } },
      series: data.series.map(function (s) {
        return { name: s.name, type: "line", data: s.data, showSymbol: data.periods.length <= 36, connectNulls: false };
      }),
    });
  }

  function plan(data) {
    var stages = data.plan.stages || [];
    mount(document.getElementById("plan-chart"), {
      grid: { left: 8, right: 90, top: 8, bottom: 8, containLabel: true },
      tooltip: tooltipFor("ratio"),
      xAxis: { type: "value", axisLabel: { hideOverlap: true, formatter: function (v) { return short(v, "count"); } } },
      yAxis: { type: "category", inverse: true, data: stages.map(function (s) { return s.stage; }) },
      series: [{
        name: "needed per " + data.plan.per, type: "bar",
        data: stages.map(function (s) { return s.count; }),
        label: { show: true, position: "right", formatter: function (p) { return fmt(p.value, "ratio"); } },
      }],
    });
  }

  var PAGES = { overview: overview, funnel: funnel, attribution: attribution, trends: trends, plan: plan };

  function showLoadingOnSubmit() {
    document.querySelectorAll("form.filters").forEach(function (form) {
      form.addEventListener("submit", function () {
        // empty fields stay out of the URL, so a shared link says only what was chosen
        Array.prototype.forEach.call(form.elements, function (el) {
          if (el.name && el.value === "" && !el.disabled) { el.disabled = true; el.dataset.blank = "1"; }
        });
        document.body.classList.add("is-loading");
        var body = document.querySelector(".page-body");
        if (body) { body.setAttribute("aria-busy", "true"); }
        var banner = form.querySelector(".loading-banner");
        if (banner) { banner.hidden = false; }
      });
    });
  }

  function start() {
    showLoadingOnSubmit();
    var data = pageData();
    if (!data || data.error || !PAGES[data.page]) { return; }
    PAGES[data.page](data);
    var resize = function () { charts.forEach(function (c) { c.resize(); }); };
    if (window.ResizeObserver) {
      var observer = new ResizeObserver(resize);
      charts.forEach(function (c) { observer.observe(c.getDom()); });
    } else {
      window.addEventListener("resize", resize);
    }
  }

  window.addEventListener("pageshow", function () {
    // back from the next page (the page may come from the back-forward cache): usable again
    document.body.classList.remove("is-loading");
    document.querySelectorAll("[data-blank]").forEach(function (el) {
      el.disabled = false;
      delete el.dataset.blank;
    });
    document.querySelectorAll(".loading-banner").forEach(function (el) { el.hidden = true; });
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
