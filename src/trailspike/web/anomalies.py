"""Queries of the anomaly explorer: job results over a window, records, their source events.

Each function takes a DuckDB connection and returns plain dicts (see :mod:`.queries`). Source
events behind an anomaly are the events of its bucket that carry the detector's field and match
its partition/by/over values; fields without a typed column are read from the ECS document with
``json_extract_string`` and a bound path. Column names put into SQL come only from the
``EVENT_COLUMNS`` whitelist.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import duckdb

from trailspike.normalise.ecs_fields import EVENT_COLUMNS, json_path
from trailspike.web.queries import Row, alerts_for_record, fetch, fetch_one, parse_influencers


def job_time_bounds(con: duckdb.DuckDBPyConnection, job_id: str) -> Row:
    """First and last bucket start the job has results for, and its bucket span in seconds."""
    row = fetch_one(
        con,
        "SELECT min(timestamp) AS first, max(timestamp) AS last, any_value(bucket_span) AS span "
        "FROM (SELECT timestamp, bucket_span FROM buckets WHERE job_id = ? "
        "UNION ALL SELECT timestamp, bucket_span FROM records WHERE job_id = ?)",
        [job_id, job_id],
    )
    return row or {"first": None, "last": None, "span": None}


def partitions(con: duckdb.DuckDBPyConnection, job_id: str) -> Row:
    """The partition field name and values of a job, busiest first (empty when unpartitioned).

    ``plotted`` says whether the model plot has per-partition series (``rare`` jobs have none:
    their values come from the anomaly records).
    """
    name = fetch_one(
        con,
        "SELECT partition_field_name AS name FROM records WHERE job_id = ? "
        "AND partition_field_name IS NOT NULL LIMIT 1",
        [job_id],
    )
    plotted = fetch_one(
        con,
        "SELECT count(*) AS n FROM model_plot WHERE job_id = ? AND partition_field_value <> ''",
        [job_id],
    )
    values = fetch(
        con,
        "SELECT partition_field_value AS value, count(*) AS n FROM model_plot "
        "WHERE job_id = ? AND partition_field_value <> '' GROUP BY ALL "
        "UNION ALL SELECT partition_field_value, count(*) FROM records WHERE job_id = ? "
        "AND partition_field_value IS NOT NULL AND NOT EXISTS (SELECT 1 FROM model_plot m "
        "WHERE m.job_id = ? AND m.partition_field_value <> '') GROUP BY ALL "
        "ORDER BY n DESC, value LIMIT 500",
        [job_id, job_id, job_id],
    )
    return {
        "name": (name or {}).get("name"),
        "values": [v["value"] for v in values],
        "plotted": bool(plotted and plotted["n"]),
    }


def model_series(
    con: duckdb.DuckDBPyConnection,
    job_id: str,
    start: datetime,
    end: datetime,
    partition: str = "",
) -> list[Row]:
    """The model plot of one partition (all by-values summed when a job splits by a field)."""
    return fetch(
        con,
        "SELECT timestamp, sum(model_lower) AS lower, sum(model_median) AS median, "
        "sum(model_upper) AS upper, sum(actual) AS actual FROM model_plot "
        "WHERE job_id = ? AND timestamp >= ? AND timestamp < ? AND partition_field_value = ? "
        "AND detector_index = 0 GROUP BY timestamp ORDER BY timestamp",
        [job_id, start, end, partition],
    )


def bucket_series(
    con: duckdb.DuckDBPyConnection, job_id: str, start: datetime, end: datetime
) -> list[Row]:
    """Bucket results (overall score, event count) of a job in ``[start, end)``."""
    return fetch(
        con,
        "SELECT timestamp, anomaly_score, event_count, bucket_span FROM buckets "
        "WHERE job_id = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp",
        [job_id, start, end],
    )


def partition_event_counts(
    con: duckdb.DuckDBPyConnection,
    field: str,
    value: str,
    start: datetime,
    end: datetime,
    span_seconds: int,
) -> list[Row]:
    """Events per bucket whose ``field`` equals ``value``: the series of one partition of a job
    without model plot (``rare`` jobs), shaped like :func:`bucket_series` rows.

    Buckets without events count 0, so the line drops to zero between bursts instead of
    joining them.
    """
    expr, extra = _field_condition(field)
    sql = (
        "SELECT time_bucket(to_seconds(?), ts) AS timestamp, count(*) AS n "  # noqa: S608
        f"FROM events WHERE {expr} = ? AND ts >= ? AND ts < ? GROUP BY 1"
    )
    counts = {
        r["timestamp"]: r["n"] for r in fetch(con, sql, [span_seconds, *extra, value, start, end])
    }
    if not counts:
        return []
    step = timedelta(seconds=span_seconds)
    first, last = min(counts), max(counts)
    # pad one empty bucket each side, within the window (steps stay on bucket boundaries)
    moment = first - step if first - step >= start else first
    stop = last + step if last + step < end else last
    rows: list[Row] = []
    while moment <= stop:
        rows.append(
            {
                "timestamp": moment,
                "event_count": counts.get(moment, 0),
                "anomaly_score": 0.0,
                "bucket_span": span_seconds,
            }
        )
        moment += step
    return rows


def anomaly_records(
    con: duckdb.DuckDBPyConnection,
    job_id: str,
    start: datetime,
    end: datetime,
    partition: str | None = None,
    min_score: float = 0.0,
    limit: int = 2000,
) -> list[Row]:
    """Anomaly records of a job in ``[start, end)``, highest score first."""
    sql = (
        "SELECT record_id, timestamp, bucket_span, record_score, probability, typical, actual, "
        "function, field_name, by_field_name, by_field_value, over_field_value, "
        "partition_field_name, partition_field_value, influencers FROM records "
        "WHERE job_id = ? AND timestamp >= ? AND timestamp < ? AND record_score >= ?"
    )
    params: list[Any] = [job_id, start, end, min_score]
    if partition:
        sql += " AND partition_field_value = ?"
        params.append(partition)
    sql += " ORDER BY record_score DESC, timestamp LIMIT ?"
    params.append(limit)
    rows = fetch(con, sql, params)
    for row in rows:
        row["influencers"] = parse_influencers(row["influencers"])
    return rows


def influencer_swimlane(
    con: duckdb.DuckDBPyConnection, job_id: str, start: datetime, end: datetime, top: int = 12
) -> list[Row]:
    """Influencer scores of the ``top`` most influential values in ``[start, end)``."""
    return fetch(
        con,
        """
        WITH w AS (
            SELECT * FROM influencers WHERE job_id = ? AND timestamp >= ? AND timestamp < ?
        ), best AS (
            SELECT influencer_field_name, influencer_field_value, max(influencer_score) AS peak
            FROM w GROUP BY ALL ORDER BY peak DESC, influencer_field_value LIMIT ?
        )
        SELECT w.timestamp, w.influencer_field_name AS field, w.influencer_field_value AS value,
               w.influencer_score AS score, best.peak
        FROM w JOIN best USING (influencer_field_name, influencer_field_value)
        ORDER BY best.peak DESC, field, value, w.timestamp
        """,
        [job_id, start, end, top],
    )


def record(con: duckdb.DuckDBPyConnection, record_id: str) -> Row | None:
    """One anomaly record with its influencers and explanation decoded."""
    row = fetch_one(con, "SELECT * FROM anomaly_records WHERE record_id = ?", [record_id])
    if row is not None:
        row["influencers"] = parse_influencers(row["influencers"])
        row["explanation"] = _parse_explanation(row.get("explanation"))
    return row


def _parse_explanation(text: str | None) -> dict[str, Any]:
    """The record's explanation JSON (written by trailspike; {} if absent or unreadable)."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _field_condition(field: str) -> tuple[str, list[Any]]:
    """SQL for an event's ECS field: its whitelisted column, or a bound JSON path into doc."""
    column = EVENT_COLUMNS.get(field)
    if column is not None:
        return f'CAST("{column}" AS VARCHAR)', []
    return "json_extract_string(doc, ?)", [json_path(field)]


def source_events(con: duckdb.DuckDBPyConnection, rec: Row, limit: int = 200) -> Row:
    """The events behind an anomaly record: its bucket, its series, with the detector field set.

    Returns ``{"total", "rows", "field", "values"}``; ``values`` counts events per value of the
    detector's field (for ``distinct_count`` jobs, the distinct values the model saw).
    """
    start = rec["timestamp"]
    end = start + timedelta(seconds=int(rec["bucket_span"] or 900))
    where = ["ts >= ?", "ts < ?"]
    params: list[Any] = [start, end]
    for name_key, value_key in (
        ("partition_field_name", "partition_field_value"),
        ("by_field_name", "by_field_value"),
        ("over_field_name", "over_field_value"),
    ):
        if rec.get(name_key) and rec.get(value_key) is not None:
            expr, extra = _field_condition(rec[name_key])
            where.append(f"{expr} = ?")
            params += [*extra, rec[value_key]]
    field_expr, field_params = "NULL", list[Any]()
    if rec.get("field_name"):
        field_expr, field_params = _field_condition(rec["field_name"])
        where.append(f"{field_expr} IS NOT NULL")
        params += field_params
    clause = " AND ".join(where)
    total = fetch_one(con, f"SELECT count(*) AS n FROM events WHERE {clause}", params)  # noqa: S608
    columns = (
        "event_id, ts, event_provider, event_action, event_outcome, error_code, error_message, "
        "user_identity_arn, source_ip, source_geo_city_name, source_geo_country_iso_code, "
        "user_agent"
    )
    sql = f"SELECT {columns} FROM events WHERE {clause} ORDER BY ts LIMIT ?"  # noqa: S608
    rows = fetch(con, sql, [*params, limit])
    values: list[Row] = []
    if rec.get("field_name"):
        values = fetch(
            con,
            f"SELECT {field_expr} AS value, count(*) AS n, min(ts) AS first_ts "  # noqa: S608
            f"FROM events WHERE {clause} GROUP BY 1 ORDER BY n DESC, value LIMIT 50",
            [*field_params, *params],
        )
    return {
        "alerts": alerts_for_record(con, rec["record_id"]),
        "total": (total or {}).get("n", 0),
        "rows": rows,
        "field": rec.get("field_name"),
        "values": values,
    }
