"""Read-only queries the pages show, over the shared tables (migrations 0001-0003).

Each function takes a DuckDB connection and returns plain dicts, so templates and tests see the
same data. Values are always bound parameters; the only identifiers put into SQL are events
columns taken from the ``EVENT_COLUMNS`` whitelist.

Implementation decisions: the pages read the contract tables directly rather than through the
job runner or rule engine, so the UI works over any store those wrote, including an old one.
Source events behind an anomaly are the events of its bucket that carry the detector's field
and match its partition/by/over values; fields without a typed column are read from the ECS
document with ``json_extract_string`` and a bound path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import orjson

from trailspike.normalise.ecs_fields import EVENT_COLUMNS, json_path

Row = dict[str, Any]
SEVERITY_ORDER = ("critical", "high", "medium", "low")
STATUSES = ("open", "acknowledged", "closed")


def fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    """Run ``sql`` with bound ``params`` and return rows as dicts keyed by column name."""
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Row | None:
    """The first row of :func:`fetch`, or ``None``."""
    found = fetch(con, sql, params)
    return found[0] if found else None


def parse_influencers(text: str | None) -> list[Row]:
    """Decode a record's influencers JSON into ``[{field, values}]``; bad JSON gives ``[]``.

    >>> parse_influencers('[{"influencer_field_name": "source.ip", '
    ...                   '"influencer_field_values": ["1.2.3.4"]}]')
    [{'field': 'source.ip', 'values': ['1.2.3.4']}]
    """
    if not text:
        return []
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    out = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict):
            values = item.get("influencer_field_values") or []
            out.append(
                {
                    "field": str(item.get("influencer_field_name", "")),
                    "values": [str(v) for v in (values if isinstance(values, list) else [values])],
                }
            )
    return out


# --- overview ---------------------------------------------------------------------------------


def ingest_status(con: duckdb.DuckDBPyConnection) -> Row:
    """Files read, events stored, quarantined records and the latest file."""
    files = fetch_one(
        con,
        "SELECT count(*) AS files, coalesce(sum(records), 0) AS records, "
        "count(*) FILTER (WHERE NOT complete) AS incomplete, max(ingested_at) AS last_at "
        "FROM ingested_files",
    )
    last = fetch_one(
        con,
        "SELECT path, ingested_at, stored FROM ingested_files ORDER BY ingested_at DESC LIMIT 1",
    )
    events = fetch_one(
        con, "SELECT count(*) AS events, min(ts) AS first_ts, max(ts) AS last_ts FROM events"
    )
    quarantined = fetch(
        con,
        "SELECT path, line, record_index, reason, snippet, quarantined_at FROM quarantine "
        "ORDER BY quarantined_at DESC LIMIT 5",
    )
    qcount = fetch_one(con, "SELECT count(*) AS n FROM quarantine")
    return {
        **(files or {}),
        **(events or {}),
        "last_file": last,
        "quarantined": (qcount or {}).get("n", 0),
        "recent_quarantine": quarantined,
    }


def job_summaries(con: duckdb.DuckDBPyConnection) -> list[Row]:
    """One row per job seen in the store: progress, anomaly counts and the latest big one."""
    return fetch(
        con,
        """
        WITH ids AS (
            SELECT job_id FROM job_state UNION SELECT DISTINCT job_id FROM buckets
            UNION SELECT DISTINCT job_id FROM records
        ), b AS (
            SELECT job_id, count(*) AS buckets, min(timestamp) AS first_bucket,
                   max(timestamp) AS last_bucket, max(anomaly_score) AS max_bucket_score
            FROM buckets GROUP BY job_id
        ), r AS (
            SELECT job_id, count(*) AS records,
                   count(*) FILTER (WHERE record_score >= 50) AS major_records,
                   max(record_score) AS max_record_score, max(timestamp) AS last_record
            FROM records GROUP BY job_id
        )
        SELECT ids.job_id, s.last_bucket_end, s.updated_at, s.memory_bytes, s.job_revision,
               coalesce(b.buckets, 0) AS buckets, b.first_bucket, b.last_bucket,
               b.max_bucket_score, coalesce(r.records, 0) AS records,
               coalesce(r.major_records, 0) AS major_records, r.max_record_score, r.last_record
        FROM ids LEFT JOIN job_state s USING (job_id) LEFT JOIN b USING (job_id)
        LEFT JOIN r USING (job_id) ORDER BY ids.job_id
        """,
    )


def rule_summaries(con: duckdb.DuckDBPyConnection) -> list[Row]:
    """One row per rule seen in executions or alerts: last run, its warnings, open alerts."""
    rows = fetch(
        con,
        """
        WITH ids AS (
            SELECT DISTINCT rule_id FROM rule_executions UNION SELECT DISTINCT rule_id FROM alerts
        ), last AS (
            SELECT * FROM rule_executions
            QUALIFY row_number() OVER (PARTITION BY rule_id ORDER BY executed_at DESC) = 1
        ), a AS (
            SELECT rule_id, any_value(rule_name) AS rule_name, count(*) AS alerts,
                   count(*) FILTER (WHERE workflow_status = 'open') AS open_alerts
            FROM alerts GROUP BY rule_id
        ), n AS (SELECT rule_id, count(*) AS executions FROM rule_executions GROUP BY rule_id)
        SELECT ids.rule_id, a.rule_name, last.executed_at, last.window_start, last.window_end,
               last.alerts_created, last.warnings, coalesce(n.executions, 0) AS executions,
               coalesce(a.alerts, 0) AS alerts, coalesce(a.open_alerts, 0) AS open_alerts
        FROM ids LEFT JOIN last USING (rule_id) LEFT JOIN a USING (rule_id)
        LEFT JOIN n USING (rule_id) ORDER BY ids.rule_id
        """,
    )
    for row in rows:
        row["warnings"] = parse_warnings(row.get("warnings"))
    return rows


def parse_warnings(text: str | None) -> list[str]:
    """A rule execution's warnings column (JSON list of strings) as a list.

    >>> parse_warnings('["job is behind"]')
    ['job is behind']
    >>> parse_warnings("plain text")
    ['plain text']
    """
    if not text:
        return []
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return [text]
    return [str(w) for w in data] if isinstance(data, list) else [str(data)]


def alert_counts_by_day(con: duckdb.DuckDBPyConnection) -> list[Row]:
    """Alerts per day of the anomaly and severity, for the overview chart."""
    return fetch(
        con,
        "SELECT date_trunc('day', original_time) AS day, severity, count(*) AS n FROM alerts "
        "GROUP BY ALL ORDER BY day",
    )


# --- jobs and the anomaly explorer ---------------------------------------------------------------


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
    without model plot (``rare`` jobs), shaped like :func:`bucket_series` rows."""
    expr, extra = _field_condition(field)
    sql = (
        "SELECT time_bucket(to_seconds(?), ts) AS timestamp, count(*) AS event_count, "  # noqa: S608
        f"0.0 AS anomaly_score, ? AS bucket_span FROM events WHERE {expr} = ? "
        "AND ts >= ? AND ts < ? GROUP BY 1 ORDER BY 1"
    )
    return fetch(con, sql, [span_seconds, span_seconds, *extra, value, start, end])


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
    """One anomaly record with its influencers decoded."""
    row = fetch_one(con, "SELECT * FROM records WHERE record_id = ?", [record_id])
    if row is not None:
        row["influencers"] = parse_influencers(row["influencers"])
    return row


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


# --- alerts and rules ---------------------------------------------------------------------------


def alerts(
    con: duckdb.DuckDBPyConnection,
    rule_id: str = "",
    severity: str = "",
    status: str = "",
    principal: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[Row]:
    """Alerts matching the filters (empty filter = any), newest anomaly first.

    ``principal`` matches, case-insensitively and as a substring, the anomaly's influencer
    values and its partition/by/over values (user ARNs, IPs, cities).
    """
    where = ["true"]
    params: list[Any] = []
    for column, value in (
        ("a.rule_id", rule_id),
        ("a.severity", severity),
        ("a.workflow_status", status),
    ):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if principal:
        where.append(
            "concat_ws(' ', r.influencers, r.by_field_value, r.over_field_value, "
            "r.partition_field_value) ILIKE ? ESCAPE '\\'"
        )
        params.append("%" + principal.replace("%", r"\%").replace("_", r"\_") + "%")
    if start is not None:
        where.append("a.original_time >= ?")
        params.append(start)
    if end is not None:
        where.append("a.original_time < ?")
        params.append(end)
    columns = (
        "a.alert_uuid, a.rule_id, a.rule_name, a.record_id, a.job_id, a.original_time, "
        "a.created_at, a.severity, a.risk_score, a.record_score, a.reason, a.workflow_status, "
        "a.close_reason, a.updated_at, r.influencers, r.partition_field_value, r.by_field_value"
    )
    sql = (
        f"SELECT {columns} FROM alerts a LEFT JOIN records r USING (record_id) "  # noqa: S608
        f"WHERE {' AND '.join(where)} "
        "ORDER BY a.original_time DESC, a.record_score DESC LIMIT ?"
    )
    rows = fetch(con, sql, [*params, limit])
    for row in rows:
        row["influencers"] = parse_influencers(row["influencers"])
    return rows


def alerts_for_record(con: duckdb.DuckDBPyConnection, record_id: str) -> list[Row]:
    """The alerts rules raised for one anomaly record (one per rule at most)."""
    return fetch(
        con,
        "SELECT alert_uuid, rule_name, severity, workflow_status FROM alerts "
        "WHERE record_id = ? ORDER BY rule_name",
        [record_id],
    )


def alert_filter_options(con: duckdb.DuckDBPyConnection) -> Row:
    """Distinct rules and severities present, for the filter drop-downs."""
    rules = fetch(
        con, "SELECT rule_id, any_value(rule_name) AS rule_name FROM alerts GROUP BY 1 ORDER BY 1"
    )
    severities = [r["severity"] for r in fetch(con, "SELECT DISTINCT severity FROM alerts")]
    ordered = [s for s in SEVERITY_ORDER if s in severities]
    ordered += sorted(s for s in severities if s not in SEVERITY_ORDER)
    return {"rules": rules, "severities": ordered, "statuses": list(STATUSES)}


def alert(con: duckdb.DuckDBPyConnection, alert_uuid: str) -> Row | None:
    """One alert with its document decoded."""
    row = fetch_one(con, "SELECT * FROM alerts WHERE alert_uuid = ?", [alert_uuid])
    if row is not None:
        try:
            row["document"] = orjson.loads(row["doc"])
        except orjson.JSONDecodeError:
            row["document"] = None
    return row


def alert_deliveries(con: duckdb.DuckDBPyConnection, alert_uuid: str) -> list[Row]:
    """Where an alert was delivered, and the last error of those that failed."""
    return fetch(
        con,
        "SELECT output, delivered_at, attempts, last_error FROM alert_deliveries "
        "WHERE alert_uuid = ? ORDER BY output",
        [alert_uuid],
    )


def rule_executions(
    con: duckdb.DuckDBPyConnection, rule_id: str | None = None, limit: int = 50
) -> list[Row]:
    """The latest executions (of one rule, or of all), newest first, warnings decoded."""
    sql = "SELECT * FROM rule_executions"
    params: list[Any] = []
    if rule_id is not None:
        sql += " WHERE rule_id = ?"
        params.append(rule_id)
    rows = fetch(con, sql + " ORDER BY executed_at DESC LIMIT ?", [*params, limit])
    for row in rows:
        row["warnings"] = parse_warnings(row["warnings"])
    return rows


def exception_items(con: duckdb.DuckDBPyConnection, list_ids: Sequence[str]) -> list[Row]:
    """Exception items stored for these lists (a rule's own id, shared lists it names).

    The ``exception_items`` table comes from the rules part's migration; a store without it
    has no stored exceptions.
    """
    exists = fetch_one(
        con, "SELECT 1 AS ok FROM information_schema.tables WHERE table_name = 'exception_items'"
    )
    if exists is None or not list_ids:
        return []
    rows = fetch(
        con,
        "SELECT item_id, list_id, name, entries, comment, created_at FROM exception_items "
        "WHERE list_id IN (SELECT unnest(?)) ORDER BY list_id, created_at",
        [list(list_ids)],
    )
    for row in rows:
        with contextlib.suppress(orjson.JSONDecodeError):
            row["entries"] = orjson.loads(row["entries"])
    return rows
