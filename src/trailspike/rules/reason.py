"""Explain an anomaly from the source events of its bucket: the alert's reason and details.

Elastic's reason for an ML alert names only ``source.ip``. Here the events behind the anomaly are
selected (bucket time range, the job's datafeed filter, the analysed field present, the record's
partition/by/over values) and summarised: top error messages and codes, principals, source
addresses with their location, actions, and the SQL that fetches the events again. The reason
reads e.g. "37 distinct error messages in 15 min (typical 3); 31 of them from arn:…/ci-deploy at
203.0.113.7 (Moscow, RU)".

Implementation decisions: every value is a bound parameter and every column name comes from
``EVENT_COLUMNS`` (fields outside it are read from ``events.doc`` with a bound JSON path), because
log content is attacker-controlled. If the datafeed's term filter selects nothing (e.g. a store
whose documents lack ``event.module``), the summary falls back to the bucket without the term
filter and says so, rather than explaining nothing. Long values are shortened in the one-line
reason only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from trailspike.features.wording import wording_sql
from trailspike.normalise.ecs_fields import EVENT_COLUMNS, json_path
from trailspike.rules.anomaly import AnomalyRecord
from trailspike.rules.jobinfo import JobInfo
from trailspike.rules.templates import template_sql

TOP_N = 5
DISTINCT_FUNCTIONS = {"distinct_count", "high_distinct_count", "low_distinct_count"}
COUNT_FUNCTIONS = {"count", "high_count", "low_count", "non_zero_count", "high_non_zero_count"}
RARE_FUNCTIONS = {"rare", "freq_rare"}


def field_sql(name: str) -> tuple[str, list[Any]]:
    """SQL expression and parameters reading ECS field ``name`` from ``events``.

    >>> field_sql("source.ip")
    ('source_ip', [])
    >>> field_sql("event.dataset")
    ('json_extract_string(doc, ?)', ['$."event"."dataset"'])
    """
    column = EVENT_COLUMNS.get(name)
    if column is not None:
        return column, []
    return "json_extract_string(doc, ?)", [json_path(name)]


@dataclass
class EventFilter:
    """A WHERE clause over ``events`` built from whitelisted columns and bound values.

    ``table`` is ``events`` or the name of a bucket's events already selected (never user data).
    """

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    table: str = "events"

    def equals(self, name: str, value: Any) -> None:
        expr, params = field_sql(name)
        self.clauses.append(f"{expr} = ?")
        self.params.extend([*params, str(value)])

    def present(self, name: str) -> None:
        expr, params = field_sql(name)
        self.clauses.append(f"{expr} IS NOT NULL")
        self.params.extend(params)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "true"

    def statement(self, select: str, tail: str = "") -> str:
        """``SELECT {select} FROM events WHERE …``; ``select`` and ``tail`` are never user data."""
        return f"SELECT {select} FROM {self.table} WHERE {self.sql()} {tail}".strip()  # noqa: S608


def build_filter(record: AnomalyRecord, job: JobInfo | None, with_terms: bool) -> EventFilter:
    """The events that fed ``record``: its bucket, its datafeed filter and entity values."""
    flt = EventFilter()
    flt.clauses.append("ts >= ? AND ts < ?")
    # An early result is explained by the events it saw, not the rest of its bucket.
    flt.params.extend([record.timestamp, record.seen_until])
    if job is not None:
        if with_terms:
            for name, value in job.terms.items():
                flt.equals(name, value)
        for name in job.exists:
            flt.present(name)
    if record.field_name:
        flt.present(record.field_name)
    for name, value in record.entity_fields().items():
        flt.equals(name, value)
    return flt


def _top(
    con: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    columns: list[str],
    distinct_of: tuple[str, list[Any]] | None,
) -> list[dict[str, Any]]:
    """Top groups by event count (and distinct count of the analysed field, when given)."""
    cols = ", ".join(columns)
    # Without a field to count, no DISTINCT at all: even count(DISTINCT NULL) doubled the
    # statement's cost (2.1 against 1.0 ms over a bucket's 100 events).
    if distinct_of is None:
        distinct_sql, distinct_params = "0", []
    else:
        distinct_sql, distinct_params = f"count(DISTINCT {distinct_of[0]})", distinct_of[1]
    sql = (
        f"SELECT {cols}, count(*) AS n, {distinct_sql} AS d FROM {flt.table} "  # noqa: S608
        f"WHERE {flt.sql()} AND {columns[0]} IS NOT NULL GROUP BY {cols} "
        f"ORDER BY {'d DESC, ' if distinct_of else ''}n DESC, {cols} LIMIT {TOP_N}"
    )
    rows = con.execute(sql, [*distinct_params, *flt.params]).fetchall()
    out = []
    for row in rows:
        entry = {col: row[i] for i, col in enumerate(columns)}
        entry["count"] = int(row[-2])
        if distinct_of is not None:
            entry["distinct"] = int(row[-1])
        out.append(entry)
    return out


def _distinct_sql(record: AnomalyRecord, job: JobInfo | None) -> tuple[str, list[Any]] | None:
    """SQL for the field a distinct-count record counted, read as the job read it."""
    if record.function not in DISTINCT_FUNCTIONS or not record.field_name:
        return None
    expr, params = field_sql(record.field_name)
    if job is not None and record.field_name in job.wording_fields:
        return wording_sql(f"CAST({expr} AS VARCHAR)", params)
    return expr, params


# The columns the summary reads; the bucket's events are selected once with them.
SUMMARY_COLUMNS = (
    "error_message",
    "error_code",
    "user_identity_arn",
    "source_ip",
    "source_geo_city_name",
    "source_geo_country_iso_code",
    "event_provider",
    "event_action",
)
_names = itertools.count()


def _select_bucket(
    con: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    record: AnomalyRecord,
    job: JobInfo | None,
    name: str,
) -> int:
    """Keep the events behind ``record`` in the temporary table ``name``: the summary's columns,
    and the analysed field as the job reads it (``_distinct``) and raw (``_raw``) for distinct
    counts. Returns how many there are."""
    select, params = ", ".join(SUMMARY_COLUMNS), []
    distinct_of = _distinct_sql(record, job)
    if distinct_of is not None:
        raw, raw_params = field_sql(str(record.field_name))
        select += f", {distinct_of[0]} AS _distinct, {raw} AS _raw"
        params = [*distinct_of[1], *raw_params]
    # A temporary table through execute(): register() and relations refuse to run while the
    # connection holds a result another statement has not fetched.
    con.execute(
        f"CREATE OR REPLACE TEMPORARY TABLE {name} AS {flt.statement(select)}",
        [*params, *flt.params],
    )
    row = con.execute(f"SELECT count(*) FROM {name}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def summarise_events(
    con: duckdb.DuckDBPyConnection, record: AnomalyRecord, job: JobInfo | None
) -> dict[str, Any]:
    """Counts and top values of the events behind ``record`` (the alert's ``trailspike`` block).

    The bucket's events are selected from the store once and every count runs over them: nine
    queries over the store cost ~30 ms an alert on the 2M-event benchmark store.
    """
    flt = build_filter(record, job, with_terms=True)
    note = None
    name = f"_trailspike_bucket_{next(_names)}"
    try:
        count = _select_bucket(con, flt, record, job, name)
        if job is not None and job.terms and count == 0:
            flt = build_filter(record, job, with_terms=False)
            count = _select_bucket(con, flt, record, job, name)
            note = "the job's datafeed term filter matched no stored events; it was left out here"
        distinct = _distinct_sql(record, job) is not None
        summary = _summarise(con, EventFilter(table=name), distinct)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    summary["event_count"] = count
    if count == 0 and (kept := _oldest_event(con)) is not None and kept > record.timestamp:
        # A backfill over time the store no longer holds: "0 events" would read as "none".
        summary["events_pruned"] = True
        note = (
            f"the bucket's source events are no longer stored (the store keeps events from "
            f"{kept:%Y-%m-%d %H:%M} UTC on: events_retention)"
        )
    sql = flt.statement("*", "ORDER BY ts")
    summary["source_events"] = {
        "sql": sql,
        "params": [str(p) for p in flt.params],
        "duckdb_sql": render_sql(sql, flt),
    }
    if note:
        summary["note"] = note
    return summary


def _oldest_event(con: duckdb.DuckDBPyConnection) -> datetime | None:
    row = con.execute("SELECT min(ts) FROM events").fetchone()
    return row[0] if row else None


def _summarise(
    con: duckdb.DuckDBPyConnection, local: EventFilter, distinct: bool
) -> dict[str, Any]:
    """The summary's counts over a bucket's selected events (``local``)."""
    distinct_of: tuple[str, list[Any]] | None = ("_distinct", []) if distinct else None
    places = ["source_ip", "source_geo_city_name", "source_geo_country_iso_code"]
    summary: dict[str, Any] = {
        "top_error_messages": _top(con, local, ["error_message"], None),
        "top_error_templates": _templates(con, local),
        "top_error_codes": _top(con, local, ["error_code"], None),
        "principals": _top(con, local, ["user_identity_arn"], distinct_of),
        "source_ips": _top(con, local, places, distinct_of),
        "actions": _top(con, local, ["event_provider", "event_action"], None),
    }
    if distinct:
        row = con.execute(
            local.statement("count(DISTINCT _distinct), count(DISTINCT _raw)")
        ).fetchone()
        summary["distinct_values"] = int(row[0]) if row else 0
        if row and int(row[1]) != summary["distinct_values"]:
            # Read by wording: say how many the per-request ids would have made of them.
            summary["distinct_raw_values"] = int(row[1])
    spread = con.execute(
        local.statement("count(DISTINCT user_identity_arn), count(DISTINCT source_ip)")
    ).fetchone()
    summary["principal_count"], summary["source_ip_count"] = spread or (0, 0)
    top_principal = summary["principals"][0] if summary["principals"] else None
    if top_principal is not None:
        summary["top_principal_source"] = _top(
            con, _with(local, "user_identity_arn", top_principal["user_identity_arn"]), places, None
        )[:1]
    return summary


def _templates(con: duckdb.DuckDBPyConnection, flt: EventFilter) -> list[dict[str, Any]]:
    """Top error-message templates by distinct messages, over every message of the bucket."""
    template, params = template_sql("error_message")
    sql = flt.statement(
        f"{template} AS template, error_code, count(*), count(DISTINCT error_message)",
        f"AND error_message IS NOT NULL GROUP BY 1, 2 ORDER BY 4 DESC, 3 DESC, 1, 2 LIMIT {TOP_N}",
    )
    rows = con.execute(sql, [*params, *flt.params]).fetchall()
    return [
        {"template": t, "error_code": code, "count": int(n), "messages": int(messages)}
        for t, code, n, messages in rows
    ]


def _with(flt: EventFilter, column: str, value: Any) -> EventFilter:
    narrowed = EventFilter(list(flt.clauses), list(flt.params), flt.table)
    narrowed.clauses.append(f"{column} = ?")
    narrowed.params.append(value)
    return narrowed


def sql_literal(value: Any) -> str:
    """A SQL string literal with quotes doubled, for SQL shown to a person to paste.

    >>> sql_literal("it's")
    "'it''s'"
    """
    return "'" + str(value).replace("'", "''") + "'"


def render_sql(sql: str, flt: EventFilter) -> str:
    """``sql`` with its ``?`` marks replaced by quoted literals (display only, never executed)."""
    pieces = sql.split("?")
    out = [pieces[0]]
    for piece, value in zip(pieces[1:], flt.params, strict=False):
        out.append(sql_literal(value) + piece)
    return "".join(out)


def span_text(seconds: int) -> str:
    """A bucket span for people.

    >>> span_text(900), span_text(3600), span_text(86400)
    ('15 min', '60 min', '24 h')
    """
    return f"{seconds // 60} min" if seconds <= 3600 else f"{seconds // 3600} h"


def field_label(name: str | None) -> str:
    """``aws.cloudtrail.error_message`` → ``error messages``.

    >>> field_label("aws.cloudtrail.error_message")
    'error messages'
    """
    if not name:
        return "events"
    return name.rsplit(".", 1)[-1].replace("_", " ") + "s"


def short(value: Any, limit: int = 120) -> str:
    """Shorten a value for a one-line reason.

    >>> short("x" * 10, 5)
    'xxxx…'
    """
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(n: int, noun: str) -> str:
    """``n`` and ``noun``, with an s unless ``n`` is 1.

    >>> plural(1, "event"), plural(16384, "event")
    ('1 event', '16,384 events')
    """
    return f"{n} {noun}" if n == 1 else f"{n:,} {noun}s"


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.1f}"


def _where_from(summary: dict[str, Any]) -> str:
    principal = summary["principals"][0] if summary.get("principals") else None
    if principal is None:
        return ""
    source = (summary.get("top_principal_source") or [None])[0]
    text = f"from {short(principal['user_identity_arn'], 100)}"
    if source is not None:
        text += f" at {short(source['source_ip'], 60)}"
        place = [
            str(p)
            for p in (source["source_geo_city_name"], source["source_geo_country_iso_code"])
            if p
        ]
        if place:
            text += f" ({', '.join(short(p, 40) for p in place)})"
    return text


def _entity_text(record: AnomalyRecord) -> str:
    parts = [
        f"{name.rsplit('.', 1)[-1].replace('_', ' ')} {short(value, 80)}"
        for name, value in record.entity_fields().items()
        if name != record.by_field_name
    ]
    return f" for {' and '.join(parts)}" if parts else ""


def _burst_text(record: AnomalyRecord) -> str:
    """ ", one of N values new to this partition in the bucket" when a burst of novelty, not the
    value alone, is what makes the record anomalous (docs/models.md, "Bursts of novelty")."""
    burst = (record.explanation or {}).get("novelty_burst")
    if not burst or burst.get("burst_probability", 1.0) >= burst.get("own_probability", 0.0):
        return ""
    entity = record.partition_field_name or record.over_field_name
    whom = f"this {entity}" if entity else "it"
    return f" (one of {int(burst['new_categories'])} {record.by_field_name} values new to {whom})"


def _share_text(top: int, record: AnomalyRecord, summary: dict[str, Any]) -> str:
    """How much of the anomaly the top principal holds: "; 31 of them from …", or, when no
    principal holds a quarter of it, how far it is spread (many principals or addresses at
    once: a fleet, a credential-stuffing run), the top one named as the largest share."""
    where = _where_from(summary)
    total = record.actual if record.actual is not None else summary.get("distinct_values", 0)
    principals = int(summary.get("principal_count") or 0)
    if principals >= 3 and total and top < 0.25 * total:
        addresses = int(summary.get("source_ip_count") or 0)
        return (
            f"; spread over {principals:,} principals and {addresses:,} source addresses "
            f"(at most {top} {where})"
        )
    return f"; {top} of them {where}"


def format_reason(record: AnomalyRecord, summary: dict[str, Any]) -> str:
    """One line a person can act on, from the record and :func:`summarise_events` output."""
    span = span_text(record.bucket_span)
    if record.data_end is not None:
        seen = int((record.data_end - record.timestamp).total_seconds())
        span = f"the first {span_text(seen)} of {span} (early result)"
    where = _where_from(summary)
    principal = summary["principals"][0] if summary.get("principals") else None
    if record.function in DISTINCT_FUNCTIONS:
        raw = summary.get("distinct_raw_values")
        raw_text = f"; {raw} counting each request's own ids" if raw else ""
        text = (
            f"{_number(record.actual)} distinct {field_label(record.field_name)} in {span}"
            f"{_entity_text(record)} (typical {_number(record.typical)}{raw_text})"
        )
        if principal is not None:
            text += _share_text(principal.get("distinct", principal["count"]), record, summary)
    elif record.function in RARE_FUNCTIONS:
        what = f"{record.by_field_name or 'value'} {short(record.by_field_value, 80)}"
        events = plural(int(summary["event_count"]), "event")
        if summary.get("events_pruned"):
            events = "events no longer stored"
        text = f"rare {what}{_entity_text(record)}: {events} in {span}{_burst_text(record)}"
        if where:
            text += f", {where}"
    elif record.function in COUNT_FUNCTIONS:
        text = (
            f"{_number(record.actual)} {field_label(record.field_name)} in {span}"
            f"{_entity_text(record)} (typical {_number(record.typical)})"
        )
        if principal is not None:
            text += _share_text(principal["count"], record, summary)
    else:
        text = (
            f"{record.function}({record.field_name or ''}) = {_number(record.actual)} in {span}"
            f"{_entity_text(record)} (typical {_number(record.typical)})"
        )
        if where:
            text += f"; mostly {where}"
    if summary.get("events_pruned") and record.function not in RARE_FUNCTIONS:
        text += "; its source events are no longer stored"
    templates = summary.get("top_error_templates") or []
    if templates and record.function not in RARE_FUNCTIONS:
        top = templates[0]
        code = f"{short(top['error_code'], 40)} " if top.get("error_code") else ""
        messages = plural(int(top["messages"]), "message")
        text += f"; mostly {code}{short(top['template'], 100)!r} ({messages})"
    return f"{text}; record score {record.record_score:.0f}"


def explain(
    con: duckdb.DuckDBPyConnection, record: AnomalyRecord, job: JobInfo | None
) -> tuple[str, dict[str, Any]]:
    """The reason line and the details block for ``record``."""
    summary = summarise_events(con, record, job)
    summary["actual"] = record.actual
    summary["typical"] = record.typical
    summary["bucket_start"] = record.timestamp.isoformat()
    summary["bucket_span_seconds"] = record.bucket_span
    return format_reason(record, summary), summary
