"""Record sources: what an execution sees, final records and early results, live and replayed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import duckdb
from rules_helpers import SPIKE_JOB, SPIKE_RULE, add_records, spike_record

from trailspike.rules.anomaly import AnomalyRecord, fetch_record
from trailspike.rules.engine import backfill, execute_rule
from trailspike.rules.loader import load_rules
from trailspike.rules.sources import rank
from trailspike.store.results import save_job_state, write_early_records

RULE = load_rules().get(SPIKE_RULE)
T0 = datetime(2026, 3, 2, 10, 0)


def add_early(
    con: duckdb.DuckDBPyConnection, ts: datetime, data_end: datetime, score: float
) -> None:
    row: dict[str, Any] = {
        "detector_index": 0,
        "function_description": "distinct_count",
        "initial_record_score": score,
        **spike_record(ts, score, actual=20.0),
        "data_end": data_end,
    }
    row["influencers"] = json.dumps(row["influencers"])
    write_early_records(con, [row])


def record(score: float, data_end: datetime | None = None) -> AnomalyRecord:
    return AnomalyRecord(
        "r1", SPIKE_JOB, T0, 900, 0, "high_distinct_count", "distinct_count",
        None, None, None, None, None, None, None, 1e-6, score, score, 3.0, 30.0, None,
        data_end=data_end,
    )  # fmt: skip


def test_rank_keeps_one_candidate_per_anomaly_final_first_then_latest_early():
    early_5 = record(60.0, T0 + timedelta(minutes=5))
    early_10 = record(70.0, T0 + timedelta(minutes=10))
    assert rank([early_5, early_10], 100) == ([early_10], 1)
    final = record(55.0)
    assert rank([early_10, final, early_5], 100) == ([final], 1)


def test_backfill_alerts_on_the_early_result_once(store: duckdb.DuckDBPyConnection) -> None:
    add_early(store, T0, T0 + timedelta(minutes=5), 72.0)
    add_early(store, T0, T0 + timedelta(minutes=10), 90.0)
    add_records(store, spike_record(T0, 95.0))
    backfill(store, [RULE], T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    rows = store.execute("SELECT created_at, record_score, doc FROM alerts").fetchall()
    assert len(rows) == 1
    created_at, score, doc = rows[0]
    # Visible at data end 10:05 + query delay 2m; the rules run at :00, :15, :30, :45.
    assert created_at == T0 + timedelta(minutes=15)
    assert score == 90.0  # the latest early result visible then (10:10 + 2m <= 10:15)
    details = json.loads(doc)["trailspike"]
    assert details["early_result"] is True
    assert details["data_end"] == "2026-03-02T10:10:00.000Z"


def test_backfill_without_early_results_waits_for_the_final_record(
    store: duckdb.DuckDBPyConnection,
) -> None:
    add_records(store, spike_record(T0, 95.0))
    backfill(store, [RULE], T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    (created_at,) = store.execute("SELECT created_at FROM alerts").fetchone()
    assert created_at == T0 + timedelta(minutes=30)  # bucket end 10:15 + 2m, next run 10:30


def test_live_execution_ignores_early_results_of_finished_buckets(
    store: duckdb.DuckDBPyConnection,
) -> None:
    add_early(store, T0, T0 + timedelta(minutes=5), 80.0)
    # The job has processed the bucket, and its final record scored below the threshold.
    save_job_state(store, SPIKE_JOB, None, T0 + timedelta(minutes=15), None, None)
    result = execute_rule(store, RULE, T0 + timedelta(minutes=30))
    assert result.alerts_created == []
    # While the bucket is open, its early result is what the rule sees.
    save_job_state(store, SPIKE_JOB, None, T0, None, None)
    result = execute_rule(store, RULE, T0 + timedelta(minutes=15))
    assert len(result.alerts_created) == 1


def test_fetch_record_falls_back_to_the_latest_early_result(
    store: duckdb.DuckDBPyConnection,
) -> None:
    add_early(store, T0, T0 + timedelta(minutes=5), 60.0)
    add_early(store, T0, T0 + timedelta(minutes=10), 70.0)
    rid = spike_record(T0, 0)["record_id"]
    found = fetch_record(store, rid)
    assert found is not None and found.data_end == T0 + timedelta(minutes=10)
    assert found.seen_until == T0 + timedelta(minutes=10)
    add_records(store, spike_record(T0, 95.0))
    final = fetch_record(store, rid)
    assert final is not None and final.data_end is None and final.record_score == 95.0


def test_anomaly_records_view_has_one_row_per_anomaly(store: duckdb.DuckDBPyConnection) -> None:
    add_early(store, T0, T0 + timedelta(minutes=5), 60.0)
    add_early(store, T0, T0 + timedelta(minutes=10), 70.0)
    rid = spike_record(T0, 0)["record_id"]
    rows = store.execute(
        "SELECT record_score, is_interim FROM anomaly_records WHERE record_id = ?", [rid]
    ).fetchall()
    assert rows == [(70.0, True)]  # the latest early result while the bucket is open
    add_records(store, spike_record(T0, 95.0))
    rows = store.execute(
        "SELECT record_score, is_interim FROM anomaly_records WHERE record_id = ?", [rid]
    ).fetchall()
    assert rows == [(95.0, False)]  # then the final record alone
