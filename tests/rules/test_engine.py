"""The executor: window, threshold, final-only, max_signals, dedup, catch-up and warnings."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from rules_helpers import (
    SPIKE_JOB,
    SPIKE_RULE,
    add_error_burst,
    add_event,
    add_records,
    spike_record,
)

from trailspike.rules.engine import (
    backfill,
    default_settings,
    due_times,
    execute_rule,
    lookback_warning,
    run_due_rules,
)
from trailspike.rules.jobinfo import JobInfo
from trailspike.rules.loader import load_rules
from trailspike.store.db import open_store

RULE = load_rules().get(SPIKE_RULE)
T0 = datetime(2026, 3, 2, 10, 0)


def _alert_count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM alerts").fetchone()
    assert row is not None
    return int(row[0])


def test_window_is_inclusive_and_relative_to_at(store: duckdb.DuckDBPyConnection) -> None:
    add_records(store, spike_record(T0, 80.0))
    # Window [at-60m, at]: at=11:00 still reaches the 10:00 bucket start; 11:01 does not.
    assert execute_rule(store, RULE, T0 + timedelta(minutes=61)).alerts_created == []
    result = execute_rule(store, RULE, T0 + timedelta(minutes=60))
    assert len(result.alerts_created) == 1
    assert (result.window_start, result.window_end) == (T0, T0 + timedelta(minutes=60))


def test_threshold_and_interim(store: duckdb.DuckDBPyConnection) -> None:
    add_records(
        store,
        spike_record(T0, 49.9),
        spike_record(T0 + timedelta(minutes=15), 50.0),
        spike_record(T0 + timedelta(minutes=30), 95.0, is_interim=True),
    )
    result = execute_rule(store, RULE, T0 + timedelta(minutes=45))
    assert result.records_matched == 1
    docs = [json.loads(r[0]) for r in store.execute("SELECT doc FROM alerts").fetchall()]
    assert [d["record_score"] for d in docs] == [50.0]


def test_backfill_skipping_empty_windows_raises_the_same_alerts(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # A sparse import: anomalies on three days of a month, one below the threshold.
    records = [
        spike_record(T0, 87.0),
        spike_record(T0 + timedelta(days=9, minutes=45), 45.0),
        spike_record(T0 + timedelta(days=9, hours=1), 66.0),
        spike_record(T0 + timedelta(days=28, hours=5), 91.0),
    ]
    every = open_store(tmp_path / "every.duckdb")
    for con in (store, every):
        add_error_burst(con, T0)
        add_records(con, *records)
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=30)
    skipped = backfill(store, [RULE], start, end)
    all_runs = backfill(every, [RULE], start, end, skip_empty=False)
    assert len(all_runs) == 31 * 96 + 1
    assert 2 < len(skipped) < 40
    assert skipped[0].executed_at == all_runs[0].executed_at
    assert skipped[-1].executed_at == all_runs[-1].executed_at
    query = "SELECT alert_uuid, original_time, record_score FROM alerts ORDER BY alert_uuid"
    alerts = store.execute(query).fetchall()
    assert len(alerts) == 3
    assert alerts == every.execute(query).fetchall()
    every.close()


def test_overlapping_windows_and_reruns_never_duplicate(store: duckdb.DuckDBPyConnection) -> None:
    add_records(store, spike_record(T0, 87.0))
    created = []
    for minutes in (15, 30, 45, 60, 60):
        created += execute_rule(store, RULE, T0 + timedelta(minutes=minutes)).alerts_created
    assert len(created) == 1
    assert _alert_count(store) == 1
    # A renormalised score does not create a second alert either: same record id, same alert id.
    store.execute("UPDATE records SET record_score = 99")
    result = execute_rule(store, RULE, T0 + timedelta(minutes=30))
    assert result.alerts_created == [] and result.duplicates == 1


def test_max_signals_keeps_the_highest_scores(store: duckdb.DuckDBPyConnection) -> None:
    rule = RULE.model_copy(update={"max_signals": 2})
    add_records(
        store,
        *(spike_record(T0 + timedelta(minutes=15 * i), 60.0 + i) for i in range(4)),
    )
    result = execute_rule(store, rule, T0 + timedelta(minutes=45))
    assert result.records_matched == 4
    scores = sorted(r[0] for r in store.execute("SELECT record_score FROM alerts").fetchall())
    assert scores == [62.0, 63.0]
    assert any("max_signals is 2" in w for w in result.warnings)


def test_backfill_raises_the_spike_once_with_a_reason(store: duckdb.DuckDBPyConnection) -> None:
    add_error_burst(store, T0)
    add_records(store, spike_record(T0, 87.0))
    start, end = T0 - timedelta(hours=2), T0 + timedelta(hours=3)
    first = backfill(store, [RULE], start, end)
    assert sum(len(r.alerts_created) for r in first) == 1
    # 21 times (every 15 minutes over five hours): the ends, and those that see the record.
    assert len(first) == 7
    again = backfill(store, [RULE], start, end)
    assert sum(len(r.alerts_created) for r in again) == 0
    (doc_text,) = store.execute("SELECT doc FROM alerts").fetchone() or ("",)
    doc = json.loads(doc_text)
    reason = doc["kibana.alert.reason"]
    assert reason.startswith("Spike in AWS Error Messages: 37 distinct error messages in 15 min")
    assert "(typical 3)" in reason
    assert (
        "31 of them from arn:aws:iam::123456789012:user/ci-deploy at 203.0.113.7 (Moscow, RU)"
        in reason
    )
    assert (
        "mostly AccessDenied 'User <arn> is not authorized to perform: iam:Action<n>' (31 messages)"
        in reason
    )
    details = doc["trailspike"]
    assert details["distinct_values"] == 37
    assert details["top_error_codes"][0] == {"error_code": "AccessDenied", "count": 31}
    assert details["principals"][0]["distinct"] == 31
    assert details["source_ips"][1]["source_ip"] == "198.51.100.9"
    rows = store.execute(
        details["source_events"]["sql"], details["source_events"]["params"]
    ).fetchall()
    assert len(rows) == 37


def test_alert_document_is_elastic_shaped(store: duckdb.DuckDBPyConnection) -> None:
    add_records(store, spike_record(T0, 87.0))
    at = T0 + timedelta(minutes=30)
    (uuid,) = execute_rule(store, RULE, at).alerts_created
    doc = json.loads(store.execute("SELECT doc FROM alerts").fetchone()[0])
    assert doc["kibana.alert.uuid"] == uuid
    assert doc["kibana.alert.rule.rule_id"] == SPIKE_RULE
    assert doc["kibana.alert.rule.parameters"]["anomaly_threshold"] == 50
    assert doc["kibana.alert.rule.parameters"]["machine_learning_job_id"] == SPIKE_JOB
    assert doc["kibana.alert.severity"] == "low" and doc["kibana.alert.risk_score"] == 21
    assert doc["kibana.alert.original_time"] == "2026-03-02T10:00:00.000Z"
    assert doc["@timestamp"] == "2026-03-02T10:30:00.000Z"
    assert doc["kibana.alert.workflow_status"] == "open"
    assert doc["event.kind"] == "signal"
    assert doc["kibana.alert.ancestors"][0]["id"] == doc["trailspike"]["record_id"]
    # Influencers become nested ECS fields holding arrays; the record fields stay.
    assert doc["source"]["ip"] == ["203.0.113.7"]
    assert doc["aws"]["cloudtrail"]["user_identity"]["arn"] == [
        "arn:aws:iam::123456789012:user/ci-deploy"
    ]
    assert doc["result_type"] == "record" and doc["function"] == "high_distinct_count"
    assert doc["actual"] == [37.0] and doc["typical"] == [3.0]
    assert doc["timestamp"] == 1772445600000
    assert [t["tactic"]["id"] for t in doc["kibana.alert.rule.threat"]] == [
        "TA0007",
        "TA0004",
        "TA0008",
    ]


def test_warns_when_job_has_not_run(store: duckdb.DuckDBPyConnection) -> None:
    add_event(store, T0 - timedelta(hours=2), error_message="denied")
    result = execute_rule(store, RULE, T0)
    assert any("has not run" in w for w in result.warnings)
    stored = store.execute("SELECT warnings FROM rule_executions").fetchone()
    assert stored is not None and "has not run" in stored[0]


def test_a_job_without_input_says_why_instead_of_asking_to_run_it(
    store: duckdb.DuckDBPyConnection,
) -> None:
    empty = execute_rule(store, RULE, T0)
    assert [w for w in empty.warnings if SPIKE_JOB in w] == [
        f"job {SPIKE_JOB} has no results: no events are stored yet (run `trailspike ingest`, "
        "or `trailspike run` with sources)"
    ]
    add_event(store, T0 - timedelta(hours=2), event_action="ListBuckets")  # no error message
    quiet = execute_rule(store, RULE, T0 + timedelta(minutes=15))
    assert (
        f"job {SPIKE_JOB} has no results: no stored event has aws.cloudtrail.error_message, "
        "so it has nothing to analyse"
    ) in quiet.warnings
    city = load_rules().get("809b70d3-e2c3-455e-af1b-2626a5a1a276")
    no_cities = execute_rule(store, city, T0)
    assert any("no stored event has source.geo.city_name" in w and "geoip_city_db" in w
               for w in no_cities.warnings)  # fmt: skip


def test_warns_when_job_is_behind(store: duckdb.DuckDBPyConnection) -> None:
    store.execute(
        "INSERT INTO job_state (job_id, last_bucket_end, updated_at) VALUES (?, ?, ?)",
        [SPIKE_JOB, T0 - timedelta(hours=5), T0],
    )
    result = execute_rule(store, RULE, T0)
    assert any("behind" in w for w in result.warnings)


def test_short_lookback_warns_and_suggests() -> None:
    job = JobInfo(SPIKE_JOB, 900)
    short = RULE.model_copy(update={"from_": "now-16m"})
    message = lookback_warning(short, job, default_settings())
    # 15m bucket + 15m delivery + 2m query delay + 15m interval = 47m -> suggest 50m.
    assert message is not None and 'from = "now-50m"' in message and "158152" in message
    assert lookback_warning(RULE, job, default_settings()) is None


def test_catch_up_runs_every_missed_interval(store: duckdb.DuckDBPyConnection) -> None:
    execute_rule(store, RULE, T0)
    times, warning = due_times(store, RULE, T0 + timedelta(minutes=50), max_catchup=96)
    assert [t.strftime("%H:%M") for t in times] == ["10:15", "10:30", "10:45"]
    assert warning is None
    # An anomaly in a bucket the service was down for is still alerted by a catch-up run.
    add_records(store, spike_record(T0 + timedelta(minutes=15), 70.0))
    results = run_due_rules(store, [RULE], T0 + timedelta(minutes=50))
    assert sum(len(r.alerts_created) for r in results) == 1
    assert due_times(store, RULE, T0 + timedelta(minutes=50), 96)[0] == []


def test_catch_up_beyond_the_cap_says_what_was_missed(store: duckdb.DuckDBPyConnection) -> None:
    execute_rule(store, RULE, T0)
    times, warning = due_times(store, RULE, T0 + timedelta(hours=2), max_catchup=2)
    assert [t.strftime("%H:%M") for t in times] == ["11:45", "12:00"]
    assert warning is not None
    assert "6 executions" in warning and "may have been missed" in warning
    assert "--start 2026-03-02T10:15 --end 2026-03-02T11:30" in warning


def test_execution_is_atomic(store: duckdb.DuckDBPyConnection) -> None:
    add_records(store, spike_record(T0, 87.0))
    store.execute("DROP TABLE rule_executions")
    store.execute("CREATE TABLE rule_executions (rule_id VARCHAR CHECK (false))")
    with pytest.raises(duckdb.Error):
        execute_rule(store, RULE, T0 + timedelta(minutes=15))
    assert _alert_count(store) == 0


def _leaf_paths(value: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(value, dict):
        paths: list[tuple[str, ...]] = []
        for key, child in value.items():
            paths += _leaf_paths(child, prefix + tuple(str(key).split(".")))
        return paths
    return [prefix]


def test_alert_document_has_no_field_that_is_both_value_and_object(
    store: duckdb.DuckDBPyConnection,
) -> None:
    # Elasticsearch expands dotted keys: "a.b": 1 next to "a": 1 would be rejected at index time.
    add_error_burst(store, T0)
    record = spike_record(
        T0, 87.0, by_field_name="event.action", by_field_value="ListRoles",
        partition_field_name="cloud.account.id", partition_field_value="123456789012",
    )  # fmt: skip
    add_records(store, record)
    execute_rule(store, RULE, T0 + timedelta(minutes=15))
    doc = json.loads(store.execute("SELECT doc FROM alerts").fetchone()[0])
    leaves = set(_leaf_paths(doc))
    prefixes = {leaf[:i] for leaf in leaves for i in range(1, len(leaf))}
    assert leaves & prefixes == set()
    assert doc["event"]["action"] == ["ListRoles"] and doc["event.kind"] == "signal"


def test_backfill_alerts_only_once_the_bucket_is_final(store: duckdb.DuckDBPyConnection) -> None:
    # History already scored: a replay must not raise the alert before the bucket ended.
    add_records(store, spike_record(T0, 87.0))
    backfill(store, [RULE], T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    (created_at,) = store.execute("SELECT created_at FROM alerts").fetchone()
    assert created_at >= T0 + timedelta(minutes=15 + 2)  # bucket end + default query_delay
    assert created_at <= T0 + timedelta(minutes=30)  # and at the first execution after that
