"""Plotly figure specifications (plain dicts) for the pages' charts.

The server builds each figure as data + layout and the page ships it in a
``<script type="application/json">`` block; ``static/app.js`` hands it to plotly.js, which is
served from the installed ``plotly`` package. Nothing is drawn by hand and no data sits in an
inline script.

Implementation decisions: severities follow Elastic's anomaly bands (critical ≥ 75, major ≥ 50,
minor ≥ 25, warning ≥ 3, low below) with Kibana's colours, one marker trace per band so the
legend doubles as a key. Markers sit on the actual-value line (as in Kibana's single metric
viewer) and carry the record id in ``customdata`` so a click can open the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

Figure = dict[str, Any]
SEVERITY_BANDS: tuple[tuple[str, float, str], ...] = (
    ("critical", 75.0, "#fe5050"),
    ("major", 50.0, "#fba740"),
    ("minor", 25.0, "#fdec25"),
    ("warning", 3.0, "#8bc8fb"),
    ("low", 0.0, "#d2e9f7"),
)
ALERT_SEVERITY_COLOURS = {
    "critical": "#bd271e",
    "high": "#e7664c",
    "medium": "#d6bf57",
    "low": "#54b399",
}
_BAND_FILL = "rgba(96, 146, 192, 0.22)"
_FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 11}


def severity_of(score: float | None) -> str:
    """Elastic's anomaly severity band of a 0-100 score.

    >>> [severity_of(s) for s in (90, 75, 50, 49.9, 25, 3, 2.9)]
    ['critical', 'critical', 'major', 'minor', 'minor', 'warning', 'low']
    """
    value = score or 0.0
    for name, floor, _colour in SEVERITY_BANDS:
        if value >= floor:
            return name
    return "low"


def iso(value: datetime | None) -> str | None:
    """A naive UTC time as ISO text plotly reads (no zone suffix: the axis is labelled UTC).

    >>> iso(datetime(2026, 1, 2, 3, 4, 5))
    '2026-01-02T03:04:05'
    """
    return value.isoformat() if value is not None else None


def _base_layout(height: int) -> dict[str, Any]:
    return {
        "height": height,
        "margin": {"l": 48, "r": 12, "t": 8, "b": 28},
        "font": _FONT,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        "xaxis": {"type": "date", "gridcolor": "#eef0f3", "title": {"text": ""}},
        "yaxis": {"gridcolor": "#eef0f3", "zeroline": False, "rangemode": "tozero"},
    }


def _record_hover(rec: dict[str, Any]) -> str:
    influencers = "; ".join(
        f"{i['field']}={', '.join(i['values'][:3])}" for i in rec.get("influencers", [])
    )
    return (
        f"score {rec['record_score']:.0f} · actual {_num(rec.get('actual'))} · typical "
        f"{_num(rec.get('typical'))}<br>p={rec['probability']:.2e}<br>{influencers[:160]}"
    )


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def series_figure(
    model_rows: list[dict[str, Any]],
    bucket_rows: list[dict[str, Any]],
    records: Iterable[dict[str, Any]],
    selected_record: str | None = None,
    value_label: str = "actual",
) -> Figure:
    """The anomaly chart: model bounds band, actual values and severity-coloured anomalies.

    Without model plot rows (e.g. a ``rare`` job) the line shows events per bucket instead.
    """
    data: list[dict[str, Any]] = []
    if model_rows:
        xs = [iso(r["timestamp"]) for r in model_rows]
        data.append(_line(xs, [r["lower"] for r in model_rows], "model lower", "#9bb5cf", 0))
        band = _line(xs, [r["upper"] for r in model_rows], "model bounds", "#9bb5cf", 0)
        band.update({"fill": "tonexty", "fillcolor": _BAND_FILL, "showlegend": True})
        data.append(band)
        data.append(_line(xs, [r["median"] for r in model_rows], "typical", "#8a9bb0", 1, "dot"))
        actual_points = {r["timestamp"]: r["actual"] for r in model_rows}
        data.append(_line(xs, [r["actual"] for r in model_rows], value_label, "#2f3b4c", 1.6))
    else:
        filled = fill_empty_buckets(bucket_rows)
        xs = [iso(r["timestamp"]) for r in filled]
        counts = [r["event_count"] for r in filled]
        actual_points = {r["timestamp"]: r["event_count"] for r in filled}
        data.append(_line(xs, counts, "events per bucket", "#2f3b4c", 1.6))
    data.extend(_marker_traces(list(records), actual_points, selected_record))
    layout = _base_layout(300)
    layout["xaxis"]["rangeslider"] = {"visible": True, "thickness": 0.08}
    layout["yaxis"]["title"] = {"text": ""}
    return {"data": data, "layout": layout, "kind": "series"}


def fill_empty_buckets(rows: list[dict[str, Any]], limit: int = 20000) -> list[dict[str, Any]]:
    """Bucket rows with the buckets a job skipped (no events) added as zero counts.

    A line through sparse buckets would otherwise join distant bursts. Rows are sorted bucket
    starts of one span; past ``limit`` buckets the rows are returned as they are.

    >>> t = datetime(2026, 1, 1)
    >>> rows = [{"timestamp": t, "event_count": 5, "bucket_span": 900},
    ...         {"timestamp": t + timedelta(minutes=45), "event_count": 2, "bucket_span": 900}]
    >>> [r["event_count"] for r in fill_empty_buckets(rows)]
    [5, 0, 0, 2]
    """
    if len(rows) < 2:
        return rows
    step = timedelta(seconds=int(rows[0].get("bucket_span") or 900))
    first = rows[0]["timestamp"]
    if (rows[-1]["timestamp"] - first) / step > limit:
        return rows
    if any((r["timestamp"] - first) % step for r in rows):
        return rows  # not on one grid of buckets: leave the series as stored
    present = {r["timestamp"]: r for r in rows}
    out = []
    moment = rows[0]["timestamp"]
    while moment <= rows[-1]["timestamp"]:
        out.append(present.get(moment) or {"timestamp": moment, "event_count": 0})
        moment += step
    return out


def _line(
    xs: list[str | None], ys: list[Any], name: str, colour: str, width: float, dash: str = "solid"
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": xs,
        "y": ys,
        "line": {"color": colour, "width": width, "dash": dash, "shape": "linear"},
        "showlegend": width > 0,
        "hoverinfo": "x+y+name" if width > 0 else "skip",
    }


def _marker_traces(
    records: list[dict[str, Any]], actual_points: dict[Any, Any], selected: str | None
) -> list[dict[str, Any]]:
    traces = []
    for name, floor, colour in SEVERITY_BANDS:
        mine = [r for r in records if severity_of(r["record_score"]) == name]
        if not mine or floor == 0.0:
            continue
        mine.sort(key=lambda r: r["timestamp"])
        ys = [actual_points.get(r["timestamp"], r.get("actual")) or r.get("actual") for r in mine]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"{name} (≥{floor:.0f})",
                "x": [iso(r["timestamp"]) for r in mine],
                "y": ys,
                "customdata": [r["record_id"] for r in mine],
                "text": [_record_hover(r) for r in mine],
                "hovertemplate": "%{x}<br>%{text}<extra>" + name + "</extra>",
                "marker": {
                    "color": colour,
                    "size": [15 if r["record_id"] == selected else 10 for r in mine],
                    "line": {
                        "color": [
                            "#000000" if r["record_id"] == selected else "#5a6270" for r in mine
                        ],
                        "width": [2.5 if r["record_id"] == selected else 1 for r in mine],
                    },
                    "symbol": "circle",
                },
                "meta": {"severity": name},
            }
        )
    return traces


SHORT_FIELDS = {
    "aws.cloudtrail.user_identity.arn": "user",
    "source.ip": "ip",
    "source.geo.city_name": "city",
    "source.geo.country_iso_code": "country",
    "aws.cloudtrail.error_code": "error",
    "event.action": "action",
}
MAX_LANE_CELLS = 120


def lane_label(field: str, value: str, width: int = 40) -> str:
    """A swimlane row label: short field name and the value's informative end.

    >>> lane_label("aws.cloudtrail.user_identity.arn", "arn:aws:iam::123456789012:user/mallory")
    'user: arn:aws:iam::123456789012:user/mallory'
    >>> lane_label("source.ip", "x" * 60, width=10)
    'ip: …xxxxxxxxx'
    """
    short = SHORT_FIELDS.get(field, field.rsplit(".", 1)[-1])
    shown = value if len(value) <= width else "…" + value[-(width - 1) :]
    return f"{short}: {shown}"


def cell_size(columns: int, limit: int = MAX_LANE_CELLS) -> int:
    """How many buckets one swimlane cell covers so at most ``limit`` cells fit across.

    >>> cell_size(96), cell_size(288), cell_size(2880)
    (1, 4, 24)
    """
    for size in (1, 2, 4, 8, 12, 24, 48, 96, 192, 384, 672):
        if columns / size <= limit:
            return size
    return -(-columns // limit)


def swimlane_figure(
    bucket_rows: list[dict[str, Any]], influencer_rows: list[dict[str, Any]]
) -> Figure:
    """Influencer swimlane: one row per top influencer value plus the overall bucket score.

    Long windows are shown in cells of several buckets (the highest score of the cell), as in
    Kibana, so a 30-day view still has readable cells.
    """
    stamps = sorted(
        {iso(r["timestamp"]) for r in bucket_rows} | {iso(r["timestamp"]) for r in influencer_rows},
        key=str,
    )
    size = cell_size(len(stamps))
    cell_of = {x: stamps[(i // size) * size] for i, x in enumerate(stamps)}
    xs = [stamps[i] for i in range(0, len(stamps), size)]
    lanes: dict[str, dict[str | None, float]] = {"overall": {}}
    names: dict[str, str] = {"overall": "overall bucket score"}
    for row in bucket_rows:
        _keep_max(lanes["overall"], cell_of[iso(row["timestamp"])], row["anomaly_score"])
    for row in influencer_rows:
        label = lane_label(row["field"], row["value"])
        names.setdefault(label, f"{row['field']} = {row['value']}")
        _keep_max(lanes.setdefault(label, {}), cell_of[iso(row["timestamp"])], row["score"])
    rows = list(lanes)
    heat = {
        "type": "heatmap",
        "x": xs,
        "y": rows,
        "z": [[lanes[y].get(x) for x in xs] for y in rows],
        "zmin": 0,
        "zmax": 100,
        "xgap": 1,
        "ygap": 2,
        # discrete bands, as in Kibana: a cell is the colour of its severity, never a blend
        "colorscale": [
            [0.0, "#e6f0fa"],
            [0.03, "#e6f0fa"],
            [0.03, "#8bc8fb"],
            [0.25, "#8bc8fb"],
            [0.25, "#fdec25"],
            [0.5, "#fdec25"],
            [0.5, "#fba740"],
            [0.75, "#fba740"],
            [0.75, "#fe5050"],
            [1.0, "#fe5050"],
        ],
        # No colour bar: plotly draws it with style="" attributes, which the CSP blocks; the
        # page prints the severity key beside the chart instead.
        "showscale": False,
        "text": [[names[y]] * len(xs) for y in rows],
        "hovertemplate": "%{text}<br>%{x}<br>max score %{z:.0f}<extra></extra>",
        "meta": {"cell_buckets": size, "cell_seconds": size * _span_of(bucket_rows)},
        "customdata": [[names[y] if y != "overall" else ""] * len(xs) for y in rows],
    }
    layout = _base_layout(62 + 24 * len(rows))
    layout["margin"]["l"] = 300
    layout["margin"]["b"] = 40  # room for the two-line date ticks
    layout["yaxis"] = {"autorange": "reversed", "automargin": False, "tickfont": {"size": 11}}
    layout["plot_bgcolor"] = "#f7f9fc"
    return {"data": [heat], "layout": layout, "kind": "swimlane"}


def _span_of(rows: list[dict[str, Any]]) -> int:
    spans = [int(r["bucket_span"]) for r in rows if r.get("bucket_span")]
    return spans[0] if spans else 900


def _keep_max(cells: dict[str | None, float], key: str | None, value: float | None) -> None:
    if value is not None and (key not in cells or value > cells[key]):
        cells[key] = value


def alerts_by_day_figure(rows: list[dict[str, Any]]) -> Figure:
    """Stacked bars of alerts per day, one colour per alert severity.

    Bars are one day wide and every day of the range is on the axis, so a single day of alerts
    still reads as a day and not as a sliver on a millisecond axis.
    """
    known = list(ALERT_SEVERITY_COLOURS)
    severities = known + sorted({r["severity"] for r in rows} - set(known))
    data = []
    day_ms = 86_400_000
    for severity in severities:
        mine = [r for r in rows if r["severity"] == severity]
        if not mine:
            continue
        trace: dict[str, Any] = {
            "type": "bar",
            "name": severity,
            "x": [iso(r["day"] + timedelta(hours=12)) for r in mine],
            "y": [r["n"] for r in mine],
            "width": [day_ms * 0.85] * len(mine),
            "hovertemplate": "%{y} " + severity + " alerts<extra>%{x|%Y-%m-%d}</extra>",
        }
        if severity in ALERT_SEVERITY_COLOURS:
            trace["marker"] = {"color": ALERT_SEVERITY_COLOURS[severity]}
        data.append(trace)
    layout = _base_layout(200)
    layout["barmode"] = "stack"
    layout["yaxis"]["title"] = {"text": "alerts / day"}
    if rows:
        first = min(r["day"] for r in rows)
        last = max(r["day"] for r in rows) + timedelta(days=1)
        layout["xaxis"]["range"] = [iso(first - timedelta(days=1)), iso(last + timedelta(days=1))]
        layout["xaxis"]["tickformat"] = "%b %d"
        layout["xaxis"]["ticklabelmode"] = "period"  # a day's label under its bar
        if (last - first).days <= 45:
            layout["xaxis"]["dtick"] = 86_400_000
    return {"data": data, "layout": layout, "kind": "bars"}
