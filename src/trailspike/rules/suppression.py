"""Alert suppression: anomalies sharing ``group_by`` values within ``duration`` make one alert.

The first anomaly of a group raises an alert carrying Kibana's suppression fields
(``kibana.alert.suppression.terms``, ``.start``, ``.end``, ``.docs_count``); later anomalies of the
same group whose bucket starts before the window closes only bump ``docs_count`` and ``end`` and
are remembered in ``suppressed_anomalies`` so an overlapping window does not count them again.

Implementation decisions: the alert shape is the same with or without suppression (influencer
fields stay nested arrays; Elastic's issue #227790 is about the shapes differing). A group key is
the JSON of the sorted values of each group-by field, so an anomaly attributed to several
principals groups with another attributed to the same set. Without ``duration`` suppression
applies within one execution only, as in Kibana.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from trailspike.core.timeutil import utcnow
from trailspike.rules.anomaly import AnomalyRecord, iso
from trailspike.rules.schema import AlertSuppression


def group_key(suppression: AlertSuppression, record: AnomalyRecord) -> str | None:
    """The group an anomaly belongs to, or ``None`` when it must not be suppressed.

    >>> from trailspike.rules.schema import AlertSuppression
    >>> rec = AnomalyRecord("r", "j", datetime(2026, 1, 1), 900, 0, "rare", "rare", None,
    ...     "event.action", "GetObject", None, None, None, None, 0.1, 80.0, 80.0, None, None, None)
    >>> group_key(AlertSuppression(group_by=["event.action"]), rec)
    '[["event.action", ["GetObject"]]]'
    """
    fields = record.fields()
    parts: list[tuple[str, list[str]]] = []
    for name in suppression.group_by:
        values = sorted({str(v) for v in fields.get(name, []) if v is not None})
        if not values and suppression.missing_fields_strategy == "doNotSuppress":
            return None
        parts.append((name, values))
    return json.dumps(parts)


def suppression_terms(key: str) -> list[dict[str, Any]]:
    return [{"field": name, "value": values or None} for name, values in json.loads(key)]


@dataclass
class Suppressor:
    """Suppression decisions for one rule execution."""

    con: duckdb.DuckDBPyConnection
    rule_id: str
    suppression: AlertSuppression
    within_run: dict[str, str] = field(default_factory=dict)

    def target(self, key: str, record: AnomalyRecord) -> str | None:
        """The alert this anomaly folds into, if any."""
        if self.suppression.duration is None:
            return self.within_run.get(key)
        row = self.con.execute(
            "SELECT alert_uuid FROM alerts WHERE rule_id = ? AND suppression_key = ? "
            "AND original_time <= ? AND suppression_until > ? "
            "ORDER BY original_time DESC LIMIT 1",
            [self.rule_id, key, record.timestamp, record.timestamp],
        ).fetchone()
        return str(row[0]) if row else None

    def opening_fields(self, key: str, record: AnomalyRecord) -> dict[str, Any]:
        """Suppression fields of a new alert that opens group ``key``."""
        return {
            "kibana.alert.suppression.terms": suppression_terms(key),
            "kibana.alert.suppression.start": iso(record.timestamp),
            "kibana.alert.suppression.end": iso(record.timestamp),
            "kibana.alert.suppression.docs_count": 0,
        }

    def until(self, record: AnomalyRecord) -> datetime | None:
        if self.suppression.duration is None:
            return None
        return record.timestamp + self.suppression.duration.timedelta()

    def opened(self, key: str, uuid: str) -> None:
        self.within_run[key] = uuid

    def fold(self, target: str, would_be_uuid: str, record: AnomalyRecord) -> None:
        """Count ``record`` in alert ``target`` instead of raising it."""
        row = self.con.execute("SELECT doc FROM alerts WHERE alert_uuid = ?", [target]).fetchone()
        assert row is not None
        doc = json.loads(row[0])
        doc["kibana.alert.suppression.docs_count"] = (
            int(doc.get("kibana.alert.suppression.docs_count", 0)) + 1
        )
        end = max(str(doc.get("kibana.alert.suppression.end", "")), iso(record.timestamp))
        doc["kibana.alert.suppression.end"] = end
        self.con.execute(
            "UPDATE alerts SET doc = ?, updated_at = ? WHERE alert_uuid = ?",
            [json.dumps(doc), utcnow(), target],
        )
        self.con.execute(
            "INSERT INTO suppressed_anomalies VALUES (?, ?, ?, ?, ?)",
            [would_be_uuid, self.rule_id, record.record_id, target, utcnow()],
        )
