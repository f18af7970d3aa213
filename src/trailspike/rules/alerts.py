"""Alerts: their id, their Elastic-compatible document, and reading and updating them.

The document (``alerts.doc``) is what Elastic Security writes for a machine_learning rule: the
anomaly record with influencers as ECS fields holding arrays, ``@timestamp`` = execution time,
``event.kind = "signal"`` and the ``kibana.alert.*`` block (uuid, rule.*, severity, risk_score,
reason, original_time, ancestors, status, workflow_status …), so it can be indexed unchanged into
an Elastic or OpenSearch SIEM. A ``trailspike`` block adds what Elastic leaves out: the summary of
the source events (top error messages and codes, principals, source IPs, actions, actual vs
typical) and how to fetch those events.

Implementation decisions: the alert id is ``sha256(record_id + rule_id)`` (Kibana's
``generateId`` over the anomaly id and the rule id; the anomaly's record id is deterministic per
job, bucket, detector and entity), so re-running any window can only find ids that exist. The
workflow statuses are Kibana's: ``open``, ``acknowledged``, ``closed``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import duckdb

from trailspike.core.errors import ConfigError, TrailspikeError
from trailspike.core.timeutil import utcnow
from trailspike.rules.anomaly import AnomalyRecord, iso
from trailspike.rules.schema import ExceptionEntry, ExceptionItem, MachineLearningRuleData

WorkflowStatus = Literal["open", "acknowledged", "closed"]
WORKFLOW_STATUSES: tuple[str, ...] = ("open", "acknowledged", "closed")
CLOSE_REASONS: tuple[str, ...] = (
    "false_positive",
    "duplicate",
    "true_positive",
    "benign_positive",
    "automated_closure",
    "other",
)
ANOMALY_INDEX = ".ml-anomalies-shared"
# Influencers a proposed false-positive exception names, in order of preference (the first found).
SUGGESTION_FIELDS = ("aws.cloudtrail.user_identity.arn", "user.id", "user.name", "source.ip")
SPACE_ID = "default"


def alert_uuid(record_id: str, rule_id: str) -> str:
    """The alert id for an anomaly and a rule: the same pair always gives the same id.

    >>> alert_uuid("rec", "rule") == hashlib.sha256(b"recrule").hexdigest()
    True
    """
    return hashlib.sha256((record_id + rule_id).encode("utf-8")).hexdigest()


def rule_parameters(rule: MachineLearningRuleData) -> dict[str, Any]:
    """The rule as ``kibana.alert.rule.parameters`` (snake_case, as Kibana stores them)."""
    params = rule.model_dump(by_alias=True, exclude={"exceptions", "enabled"})
    params["exceptions_list"] = [ref.model_dump() for ref in rule.exceptions_list]
    params["immutable"] = True
    params["language"] = None
    return params


def kibana_rule_fields(rule: MachineLearningRuleData) -> dict[str, Any]:
    """The ``kibana.alert.rule.*`` fields for ``rule``."""
    fields: dict[str, Any] = {
        "kibana.alert.rule.author": rule.author,
        "kibana.alert.rule.category": "Machine Learning Rule",
        "kibana.alert.rule.consumer": "siem",
        "kibana.alert.rule.description": rule.description,
        "kibana.alert.rule.enabled": rule.enabled,
        "kibana.alert.rule.exceptions_list": [r.model_dump() for r in rule.exceptions_list],
        "kibana.alert.rule.execution.type": "scheduled",
        "kibana.alert.rule.false_positives": rule.false_positives,
        "kibana.alert.rule.from": rule.from_,
        "kibana.alert.rule.immutable": True,
        "kibana.alert.rule.indices": [],
        "kibana.alert.rule.interval": rule.interval,
        "kibana.alert.rule.license": rule.license,
        "kibana.alert.rule.max_signals": rule.max_signals,
        "kibana.alert.rule.name": rule.name,
        "kibana.alert.rule.note": rule.note,
        "kibana.alert.rule.parameters": rule_parameters(rule),
        "kibana.alert.rule.producer": "siem",
        "kibana.alert.rule.references": rule.references,
        "kibana.alert.rule.risk_score_mapping": [],
        "kibana.alert.rule.rule_id": rule.rule_id,
        "kibana.alert.rule.rule_type_id": "siem.mlRule",
        "kibana.alert.rule.severity_mapping": [],
        "kibana.alert.rule.tags": rule.tags,
        "kibana.alert.rule.threat": [t.model_dump() for t in rule.threat],
        "kibana.alert.rule.to": rule.to,
        "kibana.alert.rule.type": rule.type,
        "kibana.alert.rule.uuid": rule.rule_id,
        "kibana.alert.rule.version": rule.version,
    }
    return fields


def build_alert_doc(
    rule: MachineLearningRuleData,
    record: AnomalyRecord,
    executed_at: datetime,
    reason: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    """The full alert document for ``record`` raised by ``rule`` at ``executed_at``."""
    uuid = alert_uuid(record.record_id, rule.rule_id)
    doc = record.ecs_doc()
    doc.update(kibana_rule_fields(rule))
    doc.update(
        {
            "@timestamp": iso(executed_at),
            "event.kind": "signal",
            "kibana.space_ids": [SPACE_ID],
            "kibana.version": "9.5.0",
            "kibana.alert.uuid": uuid,
            "kibana.alert.original_time": iso(record.timestamp),
            "kibana.alert.intended_timestamp": iso(executed_at),
            "kibana.alert.ancestors": [
                {"id": record.record_id, "type": "event", "index": ANOMALY_INDEX, "depth": 0}
            ],
            "kibana.alert.depth": 1,
            "kibana.alert.status": "active",
            "kibana.alert.workflow_status": "open",
            "kibana.alert.workflow_tags": [],
            "kibana.alert.workflow_assignee_ids": [],
            "kibana.alert.reason": reason,
            "kibana.alert.severity": rule.severity,
            "kibana.alert.risk_score": rule.risk_score,
            "kibana.alert.url": None,
        }
    )
    details = dict(details)
    details["fetch_events_cli"] = f"trailspike alerts events {uuid}"
    doc["trailspike"] = {
        "record_id": record.record_id,
        "record_score": record.record_score,
        "reason": reason,
        # An early result saw only the first part of its bucket (trailspike.jobs.early).
        "early_result": record.data_end is not None,
        "data_end": iso(record.seen_until),
        **details,
    }
    return doc


def insert_alert(
    con: duckdb.DuckDBPyConnection,
    rule: MachineLearningRuleData,
    record: AnomalyRecord,
    doc: dict[str, Any],
    executed_at: datetime,
) -> None:
    """Write one alert row; the caller has checked the id is new."""
    con.execute(
        "INSERT INTO alerts (alert_uuid, rule_id, rule_name, record_id, job_id, original_time, "
        "created_at, severity, risk_score, record_score, reason, workflow_status, doc, "
        "inserted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
        [
            doc["kibana.alert.uuid"],
            rule.rule_id,
            rule.name,
            record.record_id,
            record.job_id,
            record.timestamp,
            executed_at,
            rule.severity,
            rule.risk_score,
            record.record_score,
            doc["kibana.alert.reason"],
            json.dumps(doc, default=str),
            utcnow(),
        ],
    )


def existing_ids(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are already alerts or were folded into one by suppression."""
    if not ids:
        return set()
    marks = ", ".join("?" for _ in ids)
    rows = con.execute(
        f"SELECT alert_uuid FROM alerts WHERE alert_uuid IN ({marks}) "  # noqa: S608
        f"UNION SELECT alert_uuid FROM suppressed_anomalies WHERE alert_uuid IN ({marks})",
        [*ids, *ids],
    ).fetchall()
    return {str(r[0]) for r in rows}


# --- reading and updating -------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRow:
    alert_uuid: str
    rule_id: str
    rule_name: str
    record_id: str
    job_id: str
    original_time: datetime
    created_at: datetime
    severity: str
    risk_score: int
    record_score: float
    reason: str
    workflow_status: str
    close_reason: str | None
    updated_at: datetime | None
    doc: dict[str, Any]


_ROW_COLUMNS = (
    "alert_uuid, rule_id, rule_name, record_id, job_id, original_time, created_at, severity, "
    "risk_score, record_score, reason, workflow_status, close_reason, updated_at, doc"
)


def _row(values: Sequence[Any]) -> AlertRow:
    items = list(values)
    items[-1] = json.loads(items[-1])
    return AlertRow(*items)


def list_alerts(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    rule_id: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[AlertRow]:
    """Alerts, newest anomaly first, filtered by anomaly time, rule and workflow status."""
    clauses: list[str] = ["true"]
    params: list[Any] = []
    if since is not None:
        clauses.append("original_time >= ?")
        params.append(since)
    if until is not None:
        clauses.append("original_time < ?")
        params.append(until)
    if rule_id is not None:
        clauses.append("rule_id = ?")
        params.append(rule_id)
    if status is not None:
        if status not in WORKFLOW_STATUSES:
            raise ConfigError(f"status must be one of {', '.join(WORKFLOW_STATUSES)}")
        clauses.append("workflow_status = ?")
        params.append(status)
    sql = (
        f"SELECT {_ROW_COLUMNS} FROM alerts WHERE {' AND '.join(clauses)} "  # noqa: S608
        "ORDER BY original_time DESC, record_score DESC, alert_uuid"
    )
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [_row(r) for r in con.execute(sql, params).fetchall()]


def get_alert(con: duckdb.DuckDBPyConnection, uuid_or_prefix: str) -> AlertRow:
    """The alert with this id (a unique prefix of 6+ characters is enough)."""
    if len(uuid_or_prefix) < 6:
        raise TrailspikeError("give at least 6 characters of the alert id")
    rows = con.execute(
        f"SELECT {_ROW_COLUMNS} FROM alerts WHERE starts_with(alert_uuid, ?) LIMIT 2",  # noqa: S608
        [uuid_or_prefix],
    ).fetchall()
    if not rows:
        raise TrailspikeError(f"no alert with id {uuid_or_prefix!r}")
    if len(rows) > 1:
        raise TrailspikeError(f"alert id prefix {uuid_or_prefix!r} is ambiguous; give more of it")
    return _row(rows[0])


def set_workflow_status(
    con: duckdb.DuckDBPyConnection,
    uuid_or_prefix: str,
    status: WorkflowStatus,
    reason: str | None = None,
) -> AlertRow:
    """Acknowledge, close or reopen an alert; the document's ``kibana.alert.workflow_*`` follow."""
    if status not in WORKFLOW_STATUSES:
        raise ConfigError(f"status must be one of {', '.join(WORKFLOW_STATUSES)}")
    if reason is not None and reason not in CLOSE_REASONS:
        raise ConfigError(f"close reason must be one of {', '.join(CLOSE_REASONS)}")
    alert = get_alert(con, uuid_or_prefix)
    now = utcnow()
    doc = dict(alert.doc)
    doc["kibana.alert.workflow_status"] = status
    doc["kibana.alert.workflow_status_updated_at"] = iso(now)
    if status == "closed" and reason:
        doc["kibana.alert.workflow_reason"] = reason
    else:
        doc.pop("kibana.alert.workflow_reason", None)
    con.execute(
        "UPDATE alerts SET workflow_status = ?, close_reason = ?, updated_at = ?, doc = ? "
        "WHERE alert_uuid = ?",
        [status, reason if status == "closed" else None, now, json.dumps(doc), alert.alert_uuid],
    )
    return get_alert(con, alert.alert_uuid)


def suggest_exception(alert: AlertRow) -> ExceptionItem:
    """The exception item that would have kept ``alert`` from being raised.

    It names the anomaly's entity (partition/by/over values) and the principals the anomaly was
    attributed to (all of them must match, see :mod:`trailspike.rules.exceptions`), so it is as
    narrow as the alert allows.
    """
    doc = alert.doc
    entries: list[ExceptionEntry] = []
    for kind in ("partition", "over", "by"):
        name, value = doc.get(f"{kind}_field_name"), doc.get(f"{kind}_field_value")
        if name and value is not None:
            entries.append(ExceptionEntry(field=str(name), type="match", value=str(value)))
    # Who the anomaly is attributed to: every value must match for the item to hold.
    influencers = {
        str(inf.get("influencer_field_name")): sorted(
            {str(v) for v in inf.get("influencer_field_values", [])}
        )
        for inf in doc.get("influencers", [])
    }
    for name in SUGGESTION_FIELDS:
        values = influencers.get(name)
        if values and name not in {e.field for e in entries}:
            entries.append(
                ExceptionEntry(field=name, type="match", value=values[0])
                if len(values) == 1
                else ExceptionEntry(field=name, type="match_any", value=values)
            )
            break
    if not entries:
        entries.append(ExceptionEntry(field="job_id", type="match", value=alert.job_id))
    return ExceptionItem(
        name=f"false positive: {alert.rule_name} ({alert.alert_uuid[:12]})",
        entries=entries,
        comment=f"suggested when closing alert {alert.alert_uuid} as a false positive",
    )


def exception_toml(item: ExceptionItem) -> str:
    """``item`` as a ``[[rule.exceptions]]`` TOML block to paste into a rule file."""
    lines = ["[[rule.exceptions]]", f"name = {json.dumps(item.name)}"]
    if item.comment:
        lines.append(f"comment = {json.dumps(item.comment)}")
    for entry in item.entries:
        lines.append("[[rule.exceptions.entries]]")
        lines.append(f"field = {json.dumps(entry.field)}")
        lines.append(f"type = {json.dumps(entry.type)}")
        if entry.operator != "included":
            lines.append(f"operator = {json.dumps(entry.operator)}")
        if entry.value is not None:
            lines.append(f"value = {json.dumps(entry.value)}")
        if entry.value_list is not None:
            lines.append(f"list = {{ id = {json.dumps(entry.value_list.id)} }}")
    return "\n".join(lines) + "\n"
