"""Retention: events and job results past their horizon go, everything else stays."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
from jobs_synth import T0, baseline_events, insert_events

from trailspike.core.errors import ConfigError
from trailspike.core.settings import load_settings
from trailspike.jobs.runner import run_jobs
from trailspike.store.retention import (
    RESULT_TABLES,
    Retention,
    prune,
    retention_from_settings,
)

SPIKE = "high_distinct_count_error_message"
SETTINGS = load_settings({"renormalization_window": "1d", "early_results": "off"}, environ={})


def _count(con: duckdb.DuckDBPyConnection, sql: str, *params: object) -> int:
    return int(con.execute(sql, list(params)).fetchone()[0])


def _events_and_results(store: duckdb.DuckDBPyConnection, days: int, ran_days: int) -> None:
    insert_events(store, baseline_events(days))
    run_jobs(store, [SPIKE], end=T0 + timedelta(days=ran_days), settings=SETTINGS)


def _newest_event(con: duckdb.DuckDBPyConnection) -> datetime:
    return con.execute("SELECT max(ts) FROM events").fetchone()[0]


def test_events_past_the_horizon_go_and_a_second_prune_finds_nothing(store) -> None:
    _events_and_results(store, days=10, ran_days=10)
    cut = _newest_event(store) - timedelta(days=7)
    older = _count(store, "SELECT count(*) FROM events WHERE ts < ?", cut)
    kept = _count(store, "SELECT count(*) FROM events WHERE ts >= ?", cut)
    assert older > 0 and kept > 0
    report = prune(store, Retention(events=timedelta(days=7)), [SPIKE])
    assert report.events_before == cut and report.held_back_by is None
    assert report.deleted["events"] == older
    assert _count(store, "SELECT count(*) FROM events") == kept
    assert _count(store, "SELECT min(ts) >= ? FROM events", cut) == 1
    again = prune(store, Retention(events=timedelta(days=7)), [SPIKE])
    assert again.total == 0 and again.summary_line() == "deleted nothing"


def test_events_a_job_has_not_processed_are_kept(store) -> None:
    _events_and_results(store, days=10, ran_days=2)  # the job stopped after two days
    frontier = T0 + timedelta(days=2)
    report = prune(store, Retention(events=timedelta(days=7)), [SPIKE])
    assert report.events_before == frontier and report.held_back_by == SPIKE
    assert _count(store, "SELECT min(ts) >= ? FROM events", frontier) == 1
    assert _count(store, "SELECT count(*) FROM events WHERE ts >= ?", frontier) > 0
    # A job that is not configured any more does not hold the cut back.
    other = prune(store, Retention(events=timedelta(days=7)), ["some_other_job"])
    assert other.events_before == _newest_event(store) - timedelta(days=7)
    assert other.deleted["events"] > 0


def test_results_past_the_horizon_go_for_every_result_table(store) -> None:
    _events_and_results(store, days=5, ran_days=5)
    newest = store.execute("SELECT max(timestamp) FROM buckets").fetchone()[0]
    cut = newest - timedelta(days=2)
    before = {
        t: (
            _count(store, f"SELECT count(*) FROM {t} WHERE timestamp < ?", cut),
            _count(store, f"SELECT count(*) FROM {t} WHERE timestamp >= ?", cut),
        )
        for t in RESULT_TABLES
    }
    assert before["buckets"][0] > 0 and before["model_plot"][0] > 0
    report = prune(store, Retention(results=timedelta(days=2)), [SPIKE])
    assert report.results_before == {SPIKE: cut}
    for table, (older, newer) in before.items():
        assert report.deleted[table] == older, table
        assert _count(store, f"SELECT count(*) FROM {table}") == newer, table
    assert _count(store, "SELECT count(*) FROM events") == len(baseline_events(5))


def test_a_dry_run_counts_what_a_prune_deletes_and_deletes_nothing(store) -> None:
    _events_and_results(store, days=10, ran_days=10)
    retention = Retention(events=timedelta(days=7), results=timedelta(days=3))
    total = _count(store, "SELECT count(*) FROM events")
    dry = prune(store, retention, [SPIKE], dry_run=True)
    assert dry.total > 0 and dry.summary_line().startswith("would delete ")
    assert _count(store, "SELECT count(*) FROM events") == total
    assert prune(store, retention, [SPIKE]).deleted == dry.deleted


def test_quarantined_records_go_with_the_events_horizon(store) -> None:
    rows = [(T0 + timedelta(days=d), f"line {d}") for d in (0, 1, 9, 10)]
    for at, snippet in rows:
        store.execute(
            "INSERT INTO quarantine (path, line, reason, snippet, quarantined_at) "
            "VALUES ('f.json', 1, 'bad JSON', ?, ?)",
            [snippet, at],
        )
    report = prune(store, Retention(events=timedelta(days=7)), [])
    assert report.deleted["quarantine"] == 2
    assert sorted(r[0] for r in store.execute("SELECT snippet FROM quarantine").fetchall()) == [
        "line 10",
        "line 9",
    ]


def test_horizons_are_read_from_settings_and_checked() -> None:
    assert not retention_from_settings({}).enabled
    assert not retention_from_settings({"events_retention": "off"}).enabled
    got = retention_from_settings({"events_retention": "180d", "results_retention": "400d"})
    assert got == Retention(timedelta(days=180), timedelta(days=400))
    with pytest.raises(ConfigError, match="shorter than 7d"):
        retention_from_settings({"events_retention": "3d"})
    with pytest.raises(ConfigError, match="renormalization_window"):
        retention_from_settings({"results_retention": "10d", "renormalization_window": "30d"})
    with pytest.raises(ConfigError, match="not a duration"):
        retention_from_settings({"events_retention": "forever"})
