"""Read-only queries the pages show, over the shared tables (migrations 0001-0003).

Each function takes a DuckDB connection and returns plain dicts, so templates and tests see the
same data. Values are always bound parameters; the only identifiers put into SQL are events
columns taken from the ``EVENT_COLUMNS`` whitelist.

Implementation decisions: the pages read the contract tables directly rather than through the
job runner or rule engine, so the UI works over any store those wrote, including an old one.
The anomaly explorer's queries live in :mod:`.anomalies`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import orjson

from trailspike.rules.alerts import AlertRow
from trailspike.rules.grouping import NO_KEY, group_alerts

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


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the store has table ``name`` (tables of later migrations may be absent)."""
    row = fetch_one(
        con, "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?", [name]
    )
    return bool(row and row["n"])


def service_status(con: duckdb.DuckDBPyConnection) -> Row:
    """The ``trailspike run`` service's key/value state (cycles, last cycle, its errors)."""
    if not table_exists(con, "service_state"):
        return {}
    rows = fetch(con, "SELECT key, value, updated_at FROM service_state")
    if not rows:
        return {}
    state: Row = {r["key"]: r["value"] for r in rows}
    state["errors"] = parse_warnings(state.get("last_cycle_errors"))
    state["out_of_time"] = _out_of_time(state.get("last_out_of_time"))
    return state


def _out_of_time(text: str | None) -> Row:
    """The service's latest notes on data out of time, with the time of the cycle that saw them
    (``{"at", "notes"}``), or an empty row."""
    try:
        seen = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(seen, dict) or not isinstance(seen.get("notes"), list):
        return {}
    notes = [str(n) for n in seen["notes"]]
    return {"at": str(seen.get("at", ""))[:16].replace("T", " "), "notes": notes}


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
        # The alert's own document too: an alert raised from an early record names the ARN
        # it was raised for, which the final record may not (the groups read the document).
        where.append(
            "concat_ws(' ', array_to_string(json_extract_string(r.influencers, "
            "'$[*].influencer_field_values[*]'), ' '), r.by_field_value, r.over_field_value, "
            "r.partition_field_value, array_to_string(json_extract_string(a.doc, "
            "'$.influencers[*].influencer_field_values[*]'), ' ')) ILIKE ? ESCAPE '\\'"
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


GROUPINGS = ("principal", "rule")


def alert_groups(con: duckdb.DuckDBPyConnection, rows: Sequence[Row], by: str) -> list[Row]:
    """:func:`alerts` rows folded into one row per principal or rule, highest score first.

    One incident raises an alert per anomaly record (a stolen key's discovery calls alert once
    per method), so a queue grouped by who they are about reads as one line per actor, as
    ``trailspike alerts --group-by`` and Kibana's "group alerts by" do. ``filter`` is the
    query parameter that lists a group's alerts.
    """
    if by not in GROUPINGS:
        raise ValueError(f"cannot group alerts by {by!r}: choose one of {', '.join(GROUPINGS)}")
    docs = _alert_docs(con, [row["alert_uuid"] for row in rows])
    alert_rows = [_alert_row(row, docs.get(row["alert_uuid"], {})) for row in rows]
    out = []
    for group in group_alerts(alert_rows, by):
        top = group.top
        if by == "rule":
            link = {"rule": top.rule_id}
        else:
            link = {"principal": group.key} if group.key != NO_KEY else {}
        row = {**group.as_dict(), "first": group.first, "last": group.last, "filter": link}
        out.append(row)
    return out


def _alert_docs(con: duckdb.DuckDBPyConnection, uuids: Sequence[str]) -> dict[str, Row]:
    """The alerts' documents: who the alert was raised for (the final record may name fewer
    influencers than the early one the alert came from), as ``trailspike alerts`` groups."""
    docs: dict[str, Row] = {}
    found = fetch(
        con, "SELECT alert_uuid, doc FROM alerts WHERE list_contains(?, alert_uuid)", [list(uuids)]
    )
    for item in found:
        with contextlib.suppress(orjson.JSONDecodeError, TypeError):
            doc = orjson.loads(item["doc"])
            if isinstance(doc, dict):
                docs[item["alert_uuid"]] = doc
    return docs


def _alert_row(row: Row, doc: Row) -> AlertRow:
    """An :func:`alerts` row and its document as the rule engine's :class:`AlertRow`; a
    document without influencers (written by another tool) borrows the record's."""
    if not doc.get("influencers"):
        doc = {
            **doc,
            "influencers": [
                {"influencer_field_name": i["field"], "influencer_field_values": i["values"]}
                for i in row["influencers"]
            ],
            "partition_field_value": row.get("partition_field_value"),
        }
    fields = {name: row[name] for name in AlertRow.__dataclass_fields__ if name != "doc"}
    return AlertRow(**fields, doc=doc)


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
    if not list_ids or not table_exists(con, "exception_items"):
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
