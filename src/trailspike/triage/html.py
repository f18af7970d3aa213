"""One self-contained HTML file: the alerts, a chart of each anomaly's series, and each triage.

``write_demo_report`` is what ``trailspike demo`` writes at the end; ``render_alert_page`` is the
single-alert page of ``trailspike triage --format html``. The file works offline: plotly's
JavaScript is inlined from the installed plotly package.

Implementation decisions: chart data travels as JSON in a ``<script type="application/json">``
block, with ``<``, ``>`` and ``&`` written as ``\\u003c`` etc. so no log text can close the block;
the only executable script is our fixed drawing code (plus plotly's), never built from data.
Everything else goes through autoescaping Jinja2. Series come from ``model_plot`` (actual, the
model's bounds and median) when the job stores it, else from ``buckets.anomaly_score``; markers
are the job's anomaly records in the window, coloured by Kibana's severity bands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import orjson
from markupsafe import Markup

from trailspike.core.settings import load_settings
from trailspike.core.timeutil import utcnow
from trailspike.rules.alerts import list_alerts
from trailspike.rules.grouping import AlertGroup, group_alerts
from trailspike.triage.context import Query, run_query
from trailspike.triage.report import TriageReport, render_html_fragment, triage_alert

CHART_BEFORE = timedelta(hours=48)
CHART_AFTER = timedelta(hours=24)
MAX_TRIAGED = 40
SEVERITY_COLOURS = (  # Kibana ML_ANOMALY_THRESHOLD bands
    (75.0, "critical", "#fe5050"),
    (50.0, "major", "#fba740"),
    (25.0, "minor", "#fdec25"),
    (3.0, "warning", "#8bc8fb"),
    (0.0, "low", "#d2e9f7"),
)


def severity_of(score: float) -> tuple[str, str]:
    """Kibana's severity band and its colour for a 0-100 score.

    >>> severity_of(80)
    ('critical', '#fe5050')
    >>> severity_of(10)[0]
    'warning'
    """
    for floor, name, colour in SEVERITY_COLOURS:
        if score >= floor:
            return name, colour
    return "low", SEVERITY_COLOURS[-1][2]


def safe_json(data: Any) -> str:
    """JSON that cannot end a ``<script>`` block or open a comment, whatever strings it holds.

    >>> safe_json({"m": "</script><img src=x>"})
    '{"m":"\\\\u003c/script\\\\u003e\\\\u003cimg src=x\\\\u003e"}'
    """
    text = orjson.dumps(data, option=orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _record_of(con: duckdb.DuckDBPyConnection, record_id: str) -> dict[str, Any]:
    rows = run_query(
        con,
        Query(
            "SELECT detector_index, partition_field_value, by_field_value, bucket_span "
            "FROM anomaly_records WHERE record_id = ?",
            (record_id,),
        ),
    )
    return rows[0] if rows else {}


def chart_for_alert(
    con: duckdb.DuckDBPyConnection, alert: Mapping[str, Any], title: str
) -> dict[str, Any]:
    """Plotly traces and layout for the series of ``alert``'s job around its anomaly."""
    t = alert["original_time"]
    start, end = t - CHART_BEFORE, t + CHART_AFTER
    record = _record_of(con, str(alert["record_id"]))
    detector = int(record.get("detector_index") or 0)
    partition = str(record.get("partition_field_value") or "")
    by_value = str(record.get("by_field_value") or "")
    plot = run_query(
        con,
        Query(
            "SELECT timestamp, model_lower, model_median, model_upper, actual FROM model_plot "
            "WHERE job_id = ? AND detector_index = ? AND partition_field_value = ? "
            "AND by_field_value = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp",
            (alert["job_id"], detector, partition, by_value, start, end),
        ),
    )
    marks = run_query(
        con,
        Query(
            "SELECT record_id, timestamp, record_score, actual, typical FROM records "
            "WHERE job_id = ? AND coalesce(partition_field_value, '') = ? "
            "AND coalesce(by_field_value, '') = ? AND timestamp >= ? AND timestamp < ? "
            "AND NOT is_interim ORDER BY timestamp",
            (alert["job_id"], partition, by_value, start, end),
        ),
    )
    traces: list[dict[str, Any]] = []
    if plot:
        xs = [_iso(r["timestamp"]) for r in plot]
        y_label = "value"
        traces += [
            {
                "x": xs,
                "y": [r["model_upper"] for r in plot],
                "name": "model upper",
                "mode": "lines",
                "line": {"width": 0},
                "showlegend": False,
                "hoverinfo": "skip",
            },
            {
                "x": xs,
                "y": [r["model_lower"] for r in plot],
                "name": "model bounds",
                "mode": "lines",
                "line": {"width": 0},
                "fill": "tonexty",
                "fillcolor": "rgba(120,160,220,0.25)",
            },
            {
                "x": xs,
                "y": [r["model_median"] for r in plot],
                "name": "model median",
                "mode": "lines",
                "line": {"dash": "dot", "color": "#6f8fbf", "width": 1},
            },
            {
                "x": xs,
                "y": [r["actual"] for r in plot],
                "name": "actual",
                "mode": "lines",
                "line": {"color": "#1f3b73", "width": 1.5},
            },
        ]
        marker_y = [m["actual"] for m in marks]
    else:
        buckets = run_query(
            con,
            Query(
                "SELECT timestamp, anomaly_score FROM buckets WHERE job_id = ? "
                "AND timestamp >= ? AND timestamp < ? ORDER BY timestamp",
                (alert["job_id"], start, end),
            ),
        )
        y_label = "anomaly score"
        traces.append(
            {
                "x": [_iso(b["timestamp"]) for b in buckets],
                "y": [b["anomaly_score"] for b in buckets],
                "name": "bucket anomaly score",
                "mode": "lines",
                "line": {"color": "#1f3b73", "width": 1.5},
            }
        )
        marker_y = [m["record_score"] for m in marks]
    for floor, name, colour in SEVERITY_COLOURS[:-1]:
        chosen = [
            (m, y)
            for m, y in zip(marks, marker_y, strict=True)
            if severity_of(float(m["record_score"]))[0] == name and y is not None
        ]
        if not chosen:
            continue
        traces.append(
            {
                "x": [_iso(m["timestamp"]) for m, _ in chosen],
                "y": [y for _, y in chosen],
                "name": f"anomaly, {name} (≥{floor:g})",
                "mode": "markers",
                "marker": {
                    "color": colour,
                    "size": [14 if m["record_id"] == alert["record_id"] else 9 for m, _ in chosen],
                    "line": {"color": "#333", "width": 1},
                },
                "text": [f"score {float(m['record_score']):.1f}" for m, _ in chosen],
            }
        )
    layout = {
        "title": {"text": title},
        "height": 320,
        "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
        "xaxis": {"type": "date"},
        "yaxis": {"title": {"text": y_label}},
        "shapes": [
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": _iso(t),
                "x1": _iso(t + timedelta(seconds=int(record.get("bucket_span") or 900))),
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(254,80,80,0.12)",
                "line": {"width": 0},
            }
        ],
        "legend": {"orientation": "h"},
    }
    return {"data": traces, "layout": layout, "empty": not traces or not traces[0]["x"]}


_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)

PAGE = _ENV.from_string(
    """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:1rem 1.5rem;color:#1d2330;line-height:1.4}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
th,td{border:1px solid #d6dae3;padding:.2rem .45rem;text-align:left;vertical-align:top;
max-width:40rem;overflow-wrap:anywhere}
th{background:#f1f3f7}
caption{text-align:left;font-weight:600;padding:.2rem 0}
.sev{display:inline-block;width:.8rem;height:.8rem;border-radius:50%;margin-right:.3rem}
.ts-verdict{font-size:1.05rem;padding:.5rem .7rem;border-left:5px solid #999;background:#f6f7f9}
.ts-verdict-suspicious .ts-verdict{border-color:#e0433d}
.ts-verdict-likely-benign .ts-verdict{border-color:#3c9d5d}
.ts-verdict-needs-review .ts-verdict{border-color:#e6a23c}
.ts-step{margin:.6rem 0 1rem}
.ts-step h3{font-size:1rem;margin:.2rem 0}
.ts-signal-suspicious .ts-signal strong{color:#c9302c}
.ts-signal-benign .ts-signal strong{color:#2e7d4f}
.ts-facts{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;font-size:.85rem}
.ts-facts dt{color:#5b6475}
.ts-facts dd{margin:0;overflow-wrap:anywhere}
.ts-alert{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem}
.ts-alert dd{margin:0;overflow-wrap:anywhere}
pre{background:#f6f7f9;padding:.5rem;overflow-x:auto;font-size:.8rem;white-space:pre-wrap}
.chart{width:100%;min-height:320px}
.alert-block{border-top:2px solid #d6dae3;margin-top:2rem;padding-top:.5rem}
.muted{color:#5b6475}
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="muted">Generated {{ generated }} UTC from {{ store_label }}.
{{ alerts | length }} alerts, {{ triaged }} triaged.</p>
{% for note in notes %}<p class="muted">{{ note }}</p>{% endfor %}
{% if groups %}
<h2>By principal</h2>
<p class="muted">Each anomaly record raises its own alert, so one actor's incident is many rows
below; here they are one line each.</p>
<table>
<thead><tr><th>principal</th><th>alerts</th><th>top score</th><th>anomalies (UTC)</th>
<th>rules</th></tr></thead>
<tbody>
{% for g in groups %}
<tr><td>{{ g.key }}</td><td>{{ g.alerts }}</td><td>{{ g.score }}</td>
<td>{{ g.first }} – {{ g.last }}</td><td>{{ g.rules }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}
{% if alerts %}
<h2>Alerts</h2>
<table>
<thead><tr><th>time (UTC)</th><th>rule</th><th>score</th><th>severity</th>
<th>what happened</th><th>verdict hint</th><th>status</th></tr></thead>
<tbody>
{% for item in alerts %}
<tr><td>{% if item.fragment %}<a href="#alert-{{ item.uuid }}">{{ item.time }}</a>
{%- else %}{{ item.time }}{% endif %}</td><td title="job {{ item.job }}">{{ item.rule }}</td>
<td><span class="sev" style="background:{{ item.colour }}"></span>
{{ item.score }}</td><td>{{ item.severity }}</td><td>{{ item.what }}</td>
<td>{{ item.verdict }}</td><td>{{ item.status }}</td></tr>
{% endfor %}
</tbody></table>
{% else %}
<p>No alerts in this store.</p>
{% endif %}
{% for item in alerts %}{% if item.fragment %}
<div class="alert-block" id="alert-{{ item.uuid }}">
<div class="chart" id="chart-{{ loop.index0 }}" data-chart="{{ item.chart_key }}"></div>
{% if item.chart_empty %}
<p class="muted">No stored series for this job around the alert.</p>{% endif %}
{{ item.fragment }}
</div>
{% endif %}{% endfor %}
<script type="application/json" id="ts-chart-data">{{ chart_json }}</script>
<script>{{ plotly_js }}</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById("ts-chart-data").textContent);
  var nodes = document.querySelectorAll("div.chart[data-chart]");
  for (var i = 0; i < nodes.length; i++) {
    var spec = data[nodes[i].getAttribute("data-chart")];
    if (spec && !spec.empty) {
      Plotly.newPlot(nodes[i], spec.data, spec.layout, {responsive: true, displaylogo: false});
    } else {
      nodes[i].style.display = "none";
    }
  }
})();
</script>
</body>
</html>
"""
)


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    # A literal "</script" inside the library would end our block early; plotly has none
    # today, and this keeps it so.
    return str(get_plotlyjs()).replace("</script", "<\\/script")


def _alert_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return run_query(
        con,
        Query(
            "SELECT alert_uuid, rule_id, rule_name, record_id, job_id, original_time, severity, "
            "record_score, workflow_status, reason FROM alerts ORDER BY original_time, rule_name"
        ),
    )


def what_happened(alert: Mapping[str, Any]) -> str:
    """The alert's reason without its rule's name: what, how much, who, from where.

    The list showed principals only for the triaged alerts (40 of 103 in the demo) and never
    what was rare or how many errors there were; every alert's reason says both.
    """
    reason = str(alert.get("reason") or "")
    prefix = f"{alert['rule_name']}: "
    return reason[len(prefix) :] if reason.startswith(prefix) else reason


def _page(
    con: duckdb.DuckDBPyConnection,
    alerts: Sequence[Mapping[str, Any]],
    reports: Mapping[str, TriageReport],
    *,
    title: str,
    store_label: str,
    notes: Sequence[str] = (),
    groups: Sequence[AlertGroup] = (),
) -> str:
    items, charts = [], {}
    for index, alert in enumerate(alerts):
        report = reports.get(str(alert["alert_uuid"]))
        key = f"c{index}"
        chart = None
        if report is not None:
            chart = chart_for_alert(
                con, alert, f"{alert['job_id']} around {alert['original_time']:%Y-%m-%d %H:%M}"
            )
            charts[key] = chart
        score = float(alert["record_score"])
        items.append(
            {
                "uuid": alert["alert_uuid"],
                "time": f"{alert['original_time']:%Y-%m-%d %H:%M}",
                "rule": alert["rule_name"],
                "job": alert["job_id"],
                "score": f"{score:.1f}",
                "colour": severity_of(score)[1],
                "severity": alert["severity"],
                "what": what_happened(alert),
                "verdict": report.verdict.label if report else "",
                "status": alert["workflow_status"],
                "fragment": Markup(render_html_fragment(report)) if report else "",
                "chart_key": key,
                "chart_empty": bool(chart and chart["empty"]),
            }
        )
    return PAGE.render(
        title=title,
        generated=f"{utcnow():%Y-%m-%d %H:%M}",
        store_label=store_label,
        alerts=items,
        groups=[
            {
                "key": g.key,
                "alerts": len(g.alerts),
                "score": f"{g.top.record_score:.1f}",
                "first": f"{g.first:%Y-%m-%d %H:%M}",
                "last": f"{g.last:%Y-%m-%d %H:%M}",
                "rules": ", ".join(f"{name} ×{n}" for name, n in g.rules().items()),
            }
            for g in groups
        ],
        triaged=len(reports),
        notes=list(notes),
        chart_json=Markup(safe_json(charts)),
        plotly_js=Markup(_plotly_js()),
    )


def render_alert_page(con: duckdb.DuckDBPyConnection, report: TriageReport) -> str:
    """A self-contained HTML page for one triaged alert (chart and triage)."""
    alert = [a for a in _alert_rows(con) if a["alert_uuid"] == report.alert.alert_uuid]
    return _page(
        con,
        alert,
        {report.alert.alert_uuid: report},
        title=f"Triage: {report.alert.rule_name}",
        store_label="the store",
    )


def write_demo_report(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    settings: Mapping[str, Any] | None = None,
    *,
    max_triaged: int = MAX_TRIAGED,
    title: str = "trailspike report",
) -> Path:
    """Write one self-contained HTML report of every alert in the store to ``path``.

    Parameters
    ----------
    con
        An open store.
    path
        The HTML file to write (its folder is created).
    settings
        Resolved settings for the triage (default: :func:`load_settings`).
    max_triaged
        Triage (and chart) at most this many alerts, highest record score first; the table
        lists them all.
    title
        The page title.

    Returns
    -------
    Path
        ``path``.
    """
    resolved = load_settings() if settings is None else settings
    alerts = _alert_rows(con)
    chosen = sorted(alerts, key=lambda a: -float(a["record_score"]))[:max_triaged]
    reports = {
        str(a["alert_uuid"]): triage_alert(con, str(a["alert_uuid"]), resolved) for a in chosen
    }
    notes = []
    if len(chosen) < len(alerts):
        notes.append(
            f"Triage and charts cover the {len(chosen)} highest-scoring alerts of {len(alerts)}; "
            "run `trailspike triage ALERT_ID` for any other."
        )
    groups = group_alerts(list_alerts(con), "principal")
    html = _page(
        con, alerts, reports, title=title, store_label="the store", notes=notes, groups=groups
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
