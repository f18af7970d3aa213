"""Load what a triage needs about one alert: its row, anomaly, bucket, events and principals.

The principals come from two places, as the investigation guide implies: the influencer values the
alert document carries (``aws.cloudtrail.user_identity.arn`` and friends, arrays in Elastic's
shape) and the events of the anomaly's bucket that match the anomaly's entity (its by/partition
values and, for error jobs, the events that carry an error).

Implementation decisions: every query binds its values; column names come only from
``EVENT_COLUMNS``. Lists of values are bound as one DuckDB list parameter
(``list_contains(?, col)``) so the SQL text shown to the reader is the SQL that ran. Windows are
anchored on the anomaly's bucket, not the wall clock, so a triage of an old alert (a backfill, the
demo world) looks at the time around it; ``now`` only caps windows that would reach the future.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from trailspike.core.errors import InputError
from trailspike.normalise import ecs_fields as ecs
from trailspike.normalise.ecs_fields import EVENT_COLUMNS
from trailspike.triage.vocabulary import HISTORY_DAYS

# Columns every step may read from the alert's events.
EVENT_SELECT = (
    "event_id, ts, event_action, event_provider, event_outcome, error_code, error_message, "
    "user_identity_arn, user_identity_type, user_identity_access_key_id, user_name, source_ip, "
    "source_geo_city_name, source_geo_country_iso_code, source_as_number, "
    "source_as_organization_name, cloud_account_id, cloud_region, user_agent, request_parameters"
)
# An assumed role's ARN names a fresh session each time (terraform-run-1234); its behaviour
# belongs to the role, so history is matched on the role part of the ARN as well.
ROLE_PATTERN = r"^(arn:aws[a-z-]*:sts::[0-9]*:assumed-role/[^/]+/)"
PRINCIPAL_CLAUSE = (
    "(list_contains(?, user_identity_arn) OR list_contains(?, user_identity_access_key_id) "
    f"OR list_contains(?, regexp_extract(user_identity_arn, '{ROLE_PATTERN}', 1)))"
)
MAX_ALERT_EVENTS = 20000


SHOWN_PARAMETER = 4096  # characters of one text parameter shown in a step's query
SHOWN_ITEMS = 25  # values of one list parameter shown in a step's query


@dataclass(frozen=True)
class Query:
    """SQL with ``?`` placeholders and the values bound to them."""

    sql: str
    params: tuple[Any, ...] = ()

    def text(self) -> str:
        """The SQL followed by its parameters as a JSON comment, for a reader to rerun.

        A text value longer than :data:`SHOWN_PARAMETER` characters is cut and says so: log
        content is attacker-controlled, and six 100,000-character error messages made one
        report 600 kB larger. Real CloudTrail texts (EC2's encoded authorisation message is the
        longest, ~2 kB) are shown whole. A list longer than :data:`SHOWN_ITEMS` values (the
        principals of a flood from 500 users) shows its first ones and says how many it held.

        >>> Query("SELECT ?", ("x" * 5000,)).text().endswith('x… [cut: 5,000 characters]"]')
        True
        >>> Query("SELECT ?", (list(range(100)),)).text().endswith('24, "… [cut: 100 values]"]]')
        True
        """
        shown = json.dumps([_plain(p) for p in self.params], ensure_ascii=False)
        # Still valid JSON, but no markup survives even outside an escaping renderer.
        shown = shown.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return f"{self.sql.strip()}\n-- parameters: {shown}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (list, tuple)):
        shown = [_plain(v) for v in value[:SHOWN_ITEMS]]
        return [*shown, f"… [cut: {len(value):,} values]"] if len(value) > SHOWN_ITEMS else shown
    if isinstance(value, str) and len(value) > SHOWN_PARAMETER:
        return f"{value[:SHOWN_PARAMETER]}… [cut: {len(value):,} characters]"
    return value


def run_query(con: duckdb.DuckDBPyConnection, query: Query) -> list[dict[str, Any]]:
    """Run ``query`` with its bound parameters; rows as dicts keyed by column name."""
    cursor = con.execute(query.sql, list(query.params))
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def field_values(doc: Mapping[str, Any], name: str) -> list[str]:
    """Values of the dotted field ``name`` in ``doc``, flat-key or nested, always as strings.

    >>> field_values({"source": {"ip": ["1.2.3.4"]}}, "source.ip")
    ['1.2.3.4']
    >>> field_values({"source.ip": "5.6.7.8"}, "source.ip")
    ['5.6.7.8']
    """
    value: Any = doc.get(name)
    if value is None:
        node: Any = doc
        for part in name.split("."):
            if not isinstance(node, Mapping) or part not in node:
                node = None
                break
            node = node[part]
        value = node
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if v is not None and not isinstance(v, (dict, list))]


@dataclass
class AlertContext:
    """The alert, its anomaly and the events behind it, shared by every step."""

    con: duckdb.DuckDBPyConnection
    alert: dict[str, Any]
    doc: dict[str, Any]
    record: dict[str, Any]
    bucket_start: datetime
    bucket_end: datetime
    now: datetime
    settings: Mapping[str, Any]
    events: list[dict[str, Any]]
    events_query: Query
    principals: tuple[str, ...]
    access_keys: tuple[str, ...]
    user_names: tuple[str, ...]
    source_ips: tuple[str, ...]
    notes: list[str] = field(default_factory=list)
    # Results several steps share (the principals' hour-of-day history), read once.
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def roles(self) -> tuple[str, ...]:
        """The role part (``…:assumed-role/NAME/``) of each assumed-role principal."""
        return _distinct([role_of(arn) for arn in self.principals])

    @property
    def principal_params(self) -> tuple[list[str], list[str], list[str]]:
        """The three list parameters of :data:`PRINCIPAL_CLAUSE`: ARNs, access keys, roles."""
        return list(self.principals), list(self.access_keys), list(self.roles)

    @property
    def has_principals(self) -> bool:
        """Whether any principal was identified (otherwise principal queries are skipped)."""
        return bool(self.principals or self.access_keys)

    def cap(self, when: datetime) -> datetime:
        """``when``, but never later than ``now``."""
        return min(when, self.now)


def role_of(arn: str) -> str:
    """The role part of an assumed-role ARN (empty for other ARNs).

    >>> role_of("arn:aws:sts::111:assumed-role/terraform-ci/run-42")
    'arn:aws:sts::111:assumed-role/terraform-ci/'
    >>> role_of("arn:aws:iam::111:user/bob")
    ''
    """
    match = re.match(ROLE_PATTERN, arn or "")
    return match.group(1) if match else ""


def resolve_alert_id(con: duckdb.DuckDBPyConnection, alert_id: str) -> str:
    """The full alert uuid for ``alert_id`` or a unique prefix of it.

    Raises :class:`InputError` naming the problem when nothing or several alerts match.
    """
    text = alert_id.strip()
    if not text:
        raise InputError("empty alert id")
    rows = con.execute(
        "SELECT alert_uuid FROM alerts WHERE starts_with(alert_uuid, ?) "
        "ORDER BY alert_uuid LIMIT 6",
        [text],
    ).fetchall()
    if not rows:
        raise InputError(f"no alert with id or id prefix {text!r} in the store")
    if len(rows) > 1 and rows[0][0] != text:
        shown = ", ".join(r[0][:16] for r in rows[:5])
        raise InputError(f"alert id prefix {text!r} is ambiguous: matches {shown}; give more of it")
    return str(rows[0][0])


def _load_alert(con: duckdb.DuckDBPyConnection, alert_uuid: str) -> dict[str, Any]:
    rows = run_query(con, Query("SELECT * FROM alerts WHERE alert_uuid = ?", (alert_uuid,)))
    if not rows:
        raise InputError(f"no alert {alert_uuid!r} in the store")
    return rows[0]


def _load_record(con: duckdb.DuckDBPyConnection, record_id: str) -> dict[str, Any]:
    """The final record, or while its bucket is open the latest early result of it."""
    rows = run_query(con, Query("SELECT * FROM anomaly_records WHERE record_id = ?", (record_id,)))
    return rows[0] if rows else {}


def _parse_doc(alert: Mapping[str, Any]) -> dict[str, Any]:
    try:
        doc = json.loads(alert["doc"])
    except (TypeError, ValueError) as exc:
        raise InputError(f"alert {alert['alert_uuid']}: its stored document is not JSON") from exc
    if not isinstance(doc, dict):
        raise InputError(f"alert {alert['alert_uuid']}: its stored document is not an object")
    return doc


def _anomaly_fields(doc: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """Anomaly fields from the records row, falling back to the alert document's copy."""
    keys = (
        "bucket_span",
        "function",
        "field_name",
        "by_field_name",
        "by_field_value",
        "partition_field_name",
        "partition_field_value",
        "over_field_name",
        "over_field_value",
        "actual",
        "typical",
    )
    merged: dict[str, Any] = {}
    for key in keys:
        value = record.get(key)
        if value is None:
            value = doc.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        merged[key] = value
    return merged


def _events_query(
    anomaly: Mapping[str, Any], start: datetime, end: datetime, arns: Sequence[str]
) -> Query:
    """Events of the anomaly's bucket that match its entity (and its influencer ARNs if any)."""
    where = ["ts >= ?", "ts < ?"]
    params: list[Any] = [start, end]
    for name_key in ("field_name", "by_field_name", "partition_field_name", "over_field_name"):
        ecs_name = anomaly.get(name_key)
        column = EVENT_COLUMNS.get(str(ecs_name)) if ecs_name else None
        if column is None:
            continue
        value_key = name_key.replace("_name", "_value")
        value = anomaly.get(value_key) if name_key != "field_name" else None
        if value is not None and value != "":
            where.append(f"{column} = ?")
            params.append(str(value))
        else:
            where.append(f"{column} IS NOT NULL")
    if arns:
        where.append("list_contains(?, user_identity_arn)")
        params.append(list(arns))
    sql = (
        f"SELECT {EVENT_SELECT} FROM events WHERE "  # noqa: S608 - fixed column whitelist
        + " AND ".join(where)
        + f" ORDER BY ts LIMIT {MAX_ALERT_EVENTS}"
    )
    return Query(sql, tuple(params))


def _distinct(values: Sequence[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        if value is not None and str(value) != "":
            seen.setdefault(str(value), None)
    return tuple(seen)


def _history_note(con: duckdb.DuckDBPyConnection, bucket_start: datetime) -> str | None:
    """A note when the stored events begin inside the history the steps read back over.

    Histories (30 days) and cadences (100 days) read as "never before" what is simply not stored:
    the trail began recently, or ``events_retention`` pruned the older events.
    """
    row = con.execute("SELECT min(ts) FROM events").fetchone()
    oldest = row[0] if row else None
    if oldest is None:
        return "no events are stored: every step that reads events found none"
    if oldest <= bucket_start - timedelta(days=HISTORY_DAYS):
        return None
    return (
        f"events are stored from {oldest:%Y-%m-%d %H:%M} UTC on (the trail's start, or "
        f"events_retention): the {HISTORY_DAYS}-day histories and the cadence begin there, so "
        "'never seen before' means not since then"
    )


def load_alert_context(
    con: duckdb.DuckDBPyConnection,
    alert_uuid: str,
    settings: Mapping[str, Any],
    now: datetime,
) -> AlertContext:
    """Read the alert ``alert_uuid`` and everything the steps share about it."""
    alert = _load_alert(con, alert_uuid)
    doc = _parse_doc(alert)
    record = _load_record(con, str(alert["record_id"]))
    anomaly = _anomaly_fields(doc, record)
    span = int(anomaly.get("bucket_span") or 900)
    start = alert["original_time"]
    end = start + timedelta(seconds=span)
    influencer_arns = field_values(doc, ecs.USER_IDENTITY_ARN)
    notes: list[str] = []
    query = _events_query(anomaly, start, end, influencer_arns)
    events = run_query(con, query)
    if not events and influencer_arns:
        # Influencer values can be truncated or renamed; fall back to the whole bucket.
        notes.append("no bucket events matched the alert's influencer ARNs; used all of them")
        query = _events_query(anomaly, start, end, ())
        events = run_query(con, query)
    if len(events) >= MAX_ALERT_EVENTS:
        notes.append(
            f"the anomaly's bucket has over {MAX_ALERT_EVENTS:,} events; the steps read the "
            f"first {MAX_ALERT_EVENTS:,}"
        )
    if note := _history_note(con, start):
        notes.append(note)
    principals = _distinct([*influencer_arns, *(e["user_identity_arn"] for e in events)])
    return AlertContext(
        con=con,
        alert=alert,
        doc=doc,
        record={**record, **anomaly},
        bucket_start=start,
        bucket_end=end,
        now=now,
        settings=settings,
        events=events,
        events_query=query,
        principals=principals,
        access_keys=_distinct([e["user_identity_access_key_id"] for e in events]),
        user_names=_distinct([e["user_name"] for e in events]),
        source_ips=_distinct(
            [*field_values(doc, ecs.SOURCE_IP), *(e["source_ip"] for e in events)]
        ),
        notes=notes,
    )
