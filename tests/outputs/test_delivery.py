"""Delivery: every alert reaches every output once; failures are retried on the next call."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
from rules_helpers import SPIKE_RULE, add_records, spike_record

from trailspike.outputs.base import AlertDoc
from trailspike.outputs.delivery import deliver_pending, pending_alerts
from trailspike.rules.engine import execute_rule
from trailspike.rules.loader import load_rules

T0 = datetime(2026, 3, 2, 10, 0)


class Flaky:
    """An output that fails while ``down`` is true."""

    name = "flaky"

    def __init__(self) -> None:
        self.down = True
        self.received: list[str] = []

    def send(self, alerts: Sequence[AlertDoc]) -> list[str | None]:
        if self.down:
            return ["HTTP 503 from test"] * len(alerts)
        self.received.extend(str(a["kibana.alert.uuid"]) for a in alerts)
        return [None] * len(alerts)

    def close(self) -> None:
        return None


def _two_alerts(con: duckdb.DuckDBPyConnection) -> list[str]:
    add_records(con, spike_record(T0, 87.0), spike_record(T0 + timedelta(minutes=15), 66.0))
    return execute_rule(
        con, load_rules().get(SPIKE_RULE), T0 + timedelta(minutes=30)
    ).alerts_created


def test_failed_delivery_is_retried_and_never_lost(store: duckdb.DuckDBPyConnection) -> None:
    created = _two_alerts(store)
    out = Flaky()
    report = deliver_pending(store, [out])
    assert report.failed == {"flaky": 2} and "HTTP 503" in report.errors[0]
    row = store.execute("SELECT attempts, last_error FROM alert_deliveries LIMIT 1").fetchone()
    assert row == (1, "HTTP 503 from test")
    deliver_pending(store, [out])
    out.down = False
    report = deliver_pending(store, [out])
    assert report.delivered == {"flaky": 2}
    assert sorted(out.received) == sorted(created)
    assert deliver_pending(store, [out]).delivered == {}
    attempts = store.execute("SELECT attempts FROM alert_deliveries").fetchall()
    assert attempts == [(3,), (3,)]


def test_since_skips_older_history(store: duckdb.DuckDBPyConnection) -> None:
    _two_alerts(store)
    future = datetime.now() + timedelta(days=1)
    assert pending_alerts(store, "flaky", future) == []
    assert len(pending_alerts(store, "flaky", None)) == 2


def test_a_crashing_output_does_not_stop_the_others(store: duckdb.DuckDBPyConnection) -> None:
    _two_alerts(store)

    class Broken(Flaky):
        name = "broken"

        def send(self, alerts: Sequence[AlertDoc]) -> list[str | None]:
            raise RuntimeError("boom")

    good = Flaky()
    good.down = False
    report = deliver_pending(store, [Broken(), good])
    assert report.failed == {"broken": 2} and report.delivered == {"flaky": 2}
