"""Send alerts to outputs and remember what went through (``alert_deliveries``).

:func:`deliver_pending` sends, to each output, every alert written since ``since`` that has not been
delivered to it yet, oldest first, and records the outcome per alert and output: delivered time, or
attempts and the last error. An alert an output failed on stays pending and is sent again on the
next call, so a failed output never loses an alert.

Implementation decisions: "pending" is computed from the ``alerts`` and ``alert_deliveries`` tables
each time rather than kept in a queue, so a crash between creating an alert and queueing it cannot
lose it. ``since`` (the service's first start, by default) keeps a newly started service from
sending an old backfilled history to a chat channel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from trailspike.core.timeutil import utcnow
from trailspike.outputs.base import Output

BATCH = 500


@dataclass
class DeliveryReport:
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def pending_alerts(
    con: duckdb.DuckDBPyConnection, output: str, since: datetime | None, limit: int = BATCH
) -> list[dict[str, Any]]:
    """Alert documents not yet delivered to ``output``, oldest first."""
    rows = con.execute(
        "SELECT a.doc FROM alerts a LEFT JOIN alert_deliveries d "
        "ON d.alert_uuid = a.alert_uuid AND d.output = ? "
        "WHERE d.delivered_at IS NULL AND coalesce(a.inserted_at, a.created_at) >= ? "
        "ORDER BY coalesce(a.inserted_at, a.created_at), a.original_time, a.alert_uuid LIMIT ?",
        [output, since if since is not None else datetime(1970, 1, 1), limit],
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


def record_outcome(
    con: duckdb.DuckDBPyConnection, uuid: str, output: str, error: str | None
) -> None:
    """Store one delivery attempt's result."""
    con.execute(
        "INSERT INTO alert_deliveries (alert_uuid, output, delivered_at, attempts, last_error) "
        "VALUES (?, ?, ?, 1, ?) ON CONFLICT (alert_uuid, output) DO UPDATE SET "
        "delivered_at = excluded.delivered_at, attempts = alert_deliveries.attempts + 1, "
        "last_error = excluded.last_error",
        [uuid, output, None if error else utcnow(), error],
    )


def deliver_pending(
    con: duckdb.DuckDBPyConnection, outputs: Sequence[Output], since: datetime | None = None
) -> DeliveryReport:
    """Send every pending alert to every output; see the module docstring."""
    report = DeliveryReport()
    for output in outputs:
        docs = pending_alerts(con, output.name, since)
        if not docs:
            continue
        try:
            outcomes = output.send(docs)
        except Exception as exc:  # a broken plugin must not stop the other outputs
            outcomes = [f"{type(exc).__name__}: {exc}"] * len(docs)
        for doc, error in zip(docs, outcomes, strict=True):
            record_outcome(con, str(doc["kibana.alert.uuid"]), output.name, error)
            bucket = report.failed if error else report.delivered
            bucket[output.name] = bucket.get(output.name, 0) + 1
            if error and error not in report.errors:
                report.errors.append(f"{output.name}: {error}")
    return report
