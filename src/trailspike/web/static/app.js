// trailspike UI behaviour: draw the charts described by JSON blocks, open anomaly records.
// Chart data never sits in inline scripts: each chart div names a
// <script type="application/json"> block, parsed here with JSON.parse (no eval).
(function () {
  "use strict";

  var CONFIG = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d", "toggleSpikelines"],
  };

  function readFigure(div) {
    var block = document.getElementById(div.getAttribute("data-chart"));
    return block ? JSON.parse(block.textContent) : null;
  }

  function showRecord(div, recordId) {
    var template = div.getAttribute("data-record-url");
    var panel = document.getElementById("record-panel");
    if (!template || !panel || !recordId) return;
    var url = template.replace("__ID__", encodeURIComponent(recordId));
    fetch(url, { headers: { "X-Fragment": "1" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        // The fragment is rendered by the server with autoescape: log text arrives escaped.
        panel.innerHTML = html;
        panel.classList.add("flash");
        setTimeout(function () { panel.classList.remove("flash"); }, 900);
        panel.scrollIntoView({ behavior: "smooth", block: "start" });
        var params = new URLSearchParams(window.location.search);
        params.set("record", recordId);
        window.history.replaceState(null, "", "?" + params.toString());
        markSelectedRow(recordId);
      })
      .catch(function (err) {
        panel.textContent = "Could not load the record: " + err.message;
      });
  }

  function markSelectedRow(recordId) {
    document.querySelectorAll("#anomaly-table tr.selected").forEach(function (tr) {
      tr.classList.remove("selected");
    });
    document.querySelectorAll("#anomaly-table a.js-record").forEach(function (a) {
      if (a.getAttribute("data-record-id") === recordId) a.closest("tr").classList.add("selected");
    });
  }

  // The clicked point may be the actual-value line under a marker (hover picks the closest
  // trace): fall back to an anomaly marker at the same time.
  function recordAt(div, points) {
    for (var i = 0; i < points.length; i++) {
      if (points[i].customdata) return String(points[i].customdata);
    }
    if (!points.length) return null;
    var traces = div.data || [];
    var source = traces[points[0].curveNumber];
    // the trace's own x string (plotly reformats dates in event points)
    var x = source && source.x ? source.x[points[0].pointIndex] : points[0].x;
    for (var t = 0; t < traces.length; t++) {
      var trace = traces[t];
      if (!trace.customdata || trace.mode !== "markers") continue;
      var at = trace.x.indexOf(x);
      if (at >= 0) return String(trace.customdata[at]);
    }
    return null;
  }

  function drawChart(div) {
    var figure = readFigure(div);
    if (!figure || typeof Plotly === "undefined") return;
    // the swimlane needs no zoom tools, and its top row would sit under the mode bar
    var config = Object.assign({}, CONFIG, figure.kind === "swimlane" ? { displayModeBar: false } : {});
    Plotly.newPlot(div, figure.data, figure.layout, config).then(function () {
      div.setAttribute("data-rendered", "1");
    });
    if (figure.kind === "swimlane") {
      div.on("plotly_click", function (event) { filterByCell(div, event); });
    }
    if (div.hasAttribute("data-record-url")) {
      div.on("plotly_click", function (event) {
        var recordId = recordAt(div, (event && event.points) || []);
        if (recordId) showRecord(div, recordId);
      });
    }
  }

  // Swimlane click: narrow the anomalies table to the cell's time span (and to the lane's
  // influencer value), as Kibana's Anomaly Explorer does.
  function filterByCell(div, event) {
    var point = event && event.points && event.points[0];
    if (!point) return;
    var trace = div.data[0];
    var col = Array.isArray(point.pointNumber) ? point.pointNumber[1] : point.pointIndex[1];
    var row = Array.isArray(point.pointNumber) ? point.pointNumber[0] : point.pointIndex[0];
    var start = new Date(trace.x[col] + "Z").getTime();
    var end = start + trace.meta.cell_seconds * 1000;
    var lane = trace.customdata[row][0];
    var value = lane ? lane.slice(lane.indexOf(" = ") + 3) : "";
    var shown = 0;
    document.querySelectorAll("#anomaly-table tbody tr[data-ts]").forEach(function (tr) {
      var ts = new Date(tr.getAttribute("data-ts") + "Z").getTime();
      var keep = ts >= start && ts < end && (!value || tr.textContent.indexOf(value) >= 0);
      tr.hidden = !keep;
      if (keep) shown += 1;
    });
    var note = document.getElementById("cell-filter");
    if (note) {
      document.getElementById("cell-filter-text").textContent =
        shown + " in " + trace.x[col].replace("T", " ").slice(0, 16) +
        " (" + Math.round(trace.meta.cell_seconds / 60) + " min)" + (value ? " with " + value : "");
      note.hidden = false;
    }
  }

  function wireCellFilterReset() {
    var clear = document.getElementById("cell-filter-clear");
    if (!clear) return;
    clear.addEventListener("click", function (event) {
      event.preventDefault();
      document.querySelectorAll("#anomaly-table tbody tr").forEach(function (tr) { tr.hidden = false; });
      document.getElementById("cell-filter").hidden = true;
    });
  }

  function wireRecordLinks() {
    var chartDiv = document.querySelector("[data-record-url]");
    document.querySelectorAll("a.js-record").forEach(function (a) {
      a.addEventListener("click", function (event) {
        if (!chartDiv || event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        showRecord(chartDiv, a.getAttribute("data-record-id"));
      });
    });
  }

  function wireAutosubmit() {
    document.querySelectorAll("select.js-autosubmit").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(drawChart);
    wireRecordLinks();
    wireCellFilterReset();
    wireAutosubmit();
  });
})();
