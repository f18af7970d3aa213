"""Alert suppression: one alert per group within the duration, counted, never re-counted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
from rules_helpers import SPIKE_RULE, add_records, spike_record

from trailspike.rules.engine import backfill, execute_rule
from trailspike.rules.loader import load_rules

RULE = load_rules().get(SPIKE_RULE)
T0 = datetime(2026, 3, 2, 10, 0)


def _with_suppression(**suppression: object):  # type: ignore[no-untyped-def]
    data = RULE.model_dump(by_alias=True)
    data["alert_suppression"] = suppression
    return type(RULE).model_validate(data)


def _alerts(con: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    rows = con.execute("SELECT doc FROM alerts ORDER BY original_time").fetchall()
    return [json.loads(r[0]) for r in rows]


def test_same_principal_within_duration_makes_one_alert(store: duckdb.DuckDBPyConnection) -> None:
    rule = _with_suppression(
        group_by=["aws.cloudtrail.user_identity.arn"], duration={"value": 1, "unit": "h"}
    )
    add_records(store, *(spike_record(T0 + timedelta(minutes=15 * i), 80.0) for i in range(6)))
    results = backfill(store, [rule], T0, T0 + timedelta(hours=3))
    assert sum(len(r.alerts_created) for r in results) == 2  # 10:00-11:00 and 11:00-12:00
    assert sum(r.suppressed for r in results) == 4
    first, second = _alerts(store)
    assert first["kibana.alert.suppression.docs_count"] == 3
    assert first["kibana.alert.suppression.end"] == "2026-03-02T10:45:00.000Z"
    assert first["kibana.alert.suppression.terms"] == [
        {
            "field": "aws.cloudtrail.user_identity.arn",
            "value": ["arn:aws:iam::123456789012:user/ci-deploy"],
        }
    ]
    assert second["kibana.alert.suppression.docs_count"] == 1
    # Re-running counts nothing twice.
    backfill(store, [rule], T0, T0 + timedelta(hours=3))
    assert [a["kibana.alert.suppression.docs_count"] for a in _alerts(store)] == [3, 1]


def test_different_groups_are_not_suppressed(store: duckdb.DuckDBPyConnection) -> None:
    rule = _with_suppression(group_by=["source.ip"], duration={"value": 1, "unit": "h"})
    other = [{"influencer_field_name": "source.ip", "influencer_field_values": ["198.51.100.1"]}]
    add_records(
        store,
        spike_record(T0, 80.0),
        spike_record(T0 + timedelta(minutes=15), 80.0, influencers=other),
    )
    result = execute_rule(store, rule, T0 + timedelta(minutes=30))
    assert (len(result.alerts_created), result.suppressed) == (2, 0)


def test_missing_field_strategy(store: duckdb.DuckDBPyConnection) -> None:
    add_records(
        store,
        spike_record(T0, 80.0, influencers=[]),
        spike_record(T0 + timedelta(minutes=15), 80.0, influencers=[]),
    )
    keep = _with_suppression(group_by=["source.ip"], missing_fields_strategy="doNotSuppress")
    assert len(execute_rule(store, keep, T0 + timedelta(minutes=30)).alerts_created) == 2
    store.execute("DELETE FROM alerts")
    fold = _with_suppression(group_by=["source.ip"])  # no duration: within one execution
    result = execute_rule(store, fold, T0 + timedelta(minutes=30))
    assert (len(result.alerts_created), result.suppressed) == (1, 1)
