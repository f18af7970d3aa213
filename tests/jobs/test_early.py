"""Early results: partial buckets of functions a partial bucket can only understate."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from jobs_synth import T0, baseline_events, insert_events
from test_runner import ATTACKER, SPIKE, USER, burst, snapshot

from trailspike.core.settings import load_settings
from trailspike.jobs.early import early_step, eligible, seen_by, seen_by_many
from trailspike.jobs.loader import load_jobs
from trailspike.jobs.runner import run_jobs
from trailspike.store.db import open_store

SETTINGS = load_settings(environ={}, config_path=Path("/nonexistent.toml"))
OFF = {**SETTINGS, "early_results": "off"}
LATER = datetime(2027, 1, 1)
DAY8 = T0 + timedelta(days=8)


def run(con: duckdb.DuckDBPyConnection, end: datetime, settings: Any = SETTINGS) -> None:
    run_jobs(con, [SPIKE, USER], end=end, now=LATER, settings=settings)


def early(con: duckdb.DuckDBPyConnection, job: str) -> list[dict[str, Any]]:
    cur = con.execute(
        "SELECT * FROM early_records WHERE job_id = ? ORDER BY data_end, record_score DESC", [job]
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def final(con: duckdb.DuckDBPyConnection, record_id: str) -> dict[str, Any]:
    cur = con.execute("SELECT * FROM records WHERE record_id = ?", [record_id])
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    assert row is not None, f"no final record {record_id}"
    return dict(zip(names, row, strict=True))


def new_method(at: datetime, user: str = "u2", action: str = "DeleteTrail") -> dict[str, Any]:
    return {**burst(at, 1, user=user)[0], "event_action": action}


def test_only_functions_a_partial_bucket_understates_are_eligible():
    assert all(eligible(f) for f in ("rare", "high_count", "high_distinct_count"))
    # A partial bucket looks low, or mid-way, for these: early results would invent anomalies.
    assert not any(eligible(f) for f in ("low_count", "count", "distinct_count", "freq_rare"))
    assert not any(eligible(f) for f in ("mean", "high_mean", "low_distinct_count"))
    jobs = load_jobs()
    assert early_step(jobs.get(SPIKE), SETTINGS) == timedelta(minutes=5)
    assert early_step(jobs.get(SPIKE), OFF) is None


def test_rare_category_is_reported_from_the_minute_it_is_first_seen(store):
    insert_events(store, baseline_events(8))
    first = DAY8 + timedelta(hours=3, minutes=41, seconds=31)
    insert_events(store, [new_method(first), new_method(first + timedelta(minutes=9))])
    run(store, DAY8 + timedelta(hours=6))
    found = [r for r in early(store, USER) if r["by_field_value"] == "DeleteTrail"]
    assert len(found) == 1
    (row,) = found
    assert row["data_end"] == datetime(2026, 1, 13, 3, 42)
    assert row["timestamp"] == datetime(2026, 1, 13, 3, 0)
    # What was known at 03:42: one event, not the two the whole hour holds.
    assert row["actual"] == 1.0
    whole = final(store, row["record_id"])
    assert whole["actual"] == 2.0
    assert row["probability"] == whole["probability"]
    assert row["record_score"] >= 50


def test_distinct_burst_early_in_a_bucket_is_reported_before_the_bucket_ends(store):
    insert_events(store, baseline_events(8))
    insert_events(store, burst(DAY8 + timedelta(hours=3, minutes=1), 40))
    run(store, DAY8 + timedelta(hours=6))
    rows = [r for r in early(store, SPIKE) if r["timestamp"] == datetime(2026, 1, 13, 3, 0)]
    assert [r["data_end"] for r in rows] == [
        datetime(2026, 1, 13, 3, 5),
        datetime(2026, 1, 13, 3, 10),
    ]
    whole = final(store, rows[0]["record_id"])
    for row in rows:
        # A partial bucket only understates: never a smaller probability than the final one.
        assert row["probability"] >= whole["probability"]
        assert row["actual"] <= whole["actual"]
        assert row["record_score"] >= 50
        assert ATTACKER in row["influencers"]


def test_early_results_change_no_final_result_or_model_state(tmp_path):
    def results(settings: Any) -> dict[str, list[Any]]:
        con = open_store(tmp_path / f"{settings['early_results']}.duckdb")
        insert_events(con, baseline_events(6, seed=3))
        insert_events(con, burst(T0 + timedelta(days=4, hours=5, minutes=3), 30))
        insert_events(con, [new_method(T0 + timedelta(days=5, hours=1, minutes=20), "u3")])
        run(con, T0 + timedelta(days=6), settings)
        out = snapshot(con)
        con.close()
        return out

    with_early, without = results(SETTINGS), results(OFF)
    assert len(with_early.pop("early_records")) > 0
    assert without.pop("early_records") == []
    assert with_early == without


def test_live_run_reports_the_open_bucket_from_the_data_known_so_far(store):
    insert_events(store, baseline_events(8))
    insert_events(store, [new_method(DAY8 + timedelta(hours=3, minutes=4))])
    # 03:30 minus the query delay (2m) and CloudTrail's delivery delay (15m): data to 03:13.
    now = DAY8 + timedelta(hours=3, minutes=30)
    run_jobs(store, [USER], now=now, settings=SETTINGS)
    state = store.execute(
        "SELECT last_bucket_end FROM job_state WHERE job_id = ?", [USER]
    ).fetchone()
    assert state is not None and state[0] <= datetime(2026, 1, 13, 3, 0)
    rows = [r for r in early(store, USER) if r["by_field_value"] == "DeleteTrail"]
    assert [(r["timestamp"], r["data_end"]) for r in rows] == [
        (datetime(2026, 1, 13, 3, 0), datetime(2026, 1, 13, 3, 5))
    ]
    # The hour is not final: no final record yet, and the models learnt nothing of it.
    final_rows = store.execute(
        "SELECT count(*) FROM records WHERE timestamp >= ?", [rows[0]["timestamp"]]
    )
    assert final_rows.fetchone() == (0,)


def test_live_rule_alerts_on_a_rare_error_code_before_its_hour_ends(store):
    from trailspike.rules.engine import execute_rule
    from trailspike.rules.loader import load_rules

    insert_events(store, baseline_events(8))
    first = DAY8 + timedelta(hours=3, minutes=4)
    insert_events(store, [{**burst(first, 1)[0], "error_code": "InvalidClientTokenId"}])
    shipped = load_rules().get("19de8096-e2b0-4bd8-80c9-34a820813fff")  # Rare AWS Error Code
    # One error code in eight days of history: a new one scores 29 here (p 1.4e-3).
    rule = shipped.model_copy(update={"anomaly_threshold": 25})
    # The service at 03:30 knows the data up to 03:13 (query delay and delivery delay).
    now = DAY8 + timedelta(hours=3, minutes=30)
    run_jobs(store, ["rare_error_code"], now=now, settings=SETTINGS)
    result = execute_rule(store, rule, now, SETTINGS)
    assert len(result.alerts_created) == 1  # 27 minutes before the hour's bucket is final
    (doc,) = store.execute("SELECT doc FROM alerts").fetchone()
    assert '"early_result": true' in doc and "InvalidClientTokenId" in doc
    # Once the hour is final, the final record is the same anomaly: no second alert.
    later = DAY8 + timedelta(hours=4, minutes=30)
    run_jobs(store, ["rare_error_code"], now=later, settings=SETTINGS)
    assert execute_rule(store, rule, later, SETTINGS).alerts_created == []


def test_seen_by_many_is_seen_by_of_each_first_event() -> None:
    rng = random.Random(7)
    base = datetime(2026, 1, 5)
    firsts = [base + timedelta(microseconds=rng.randrange(86_400_000_000)) for _ in range(500)]
    firsts += [base, base + timedelta(minutes=3), datetime(1969, 12, 31, 23, 59, 30, 5)]
    got = seen_by_many(pa.array(firsts, pa.timestamp("us")))
    assert got == [seen_by(f) for f in firsts]
    assert all(type(g) is datetime for g in got)
    assert seen_by_many(pa.array([], pa.timestamp("us"))) == []
