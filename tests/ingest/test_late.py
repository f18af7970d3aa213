"""Events stored after a job has analysed past their time are counted and reported."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from ingest_helpers import record, write_s3_file

from trailspike.core.settings import load_settings
from trailspike.ingest.late import LateCheck
from trailspike.ingest.pipeline import ingest
from trailspike.jobs.runner import run_jobs

SETTINGS = load_settings({}, environ={})
SPIKE = "high_distinct_count_error_message"
CODES = "rare_error_code"


def _records(day: int, first: int, errors: int, others: int) -> list[dict[str, Any]]:
    """``errors`` failed and ``others`` successful calls on 2026-01-``day`` from 10:00."""
    out = []
    for k in range(errors + others):
        n = first + k
        extra = {"errorCode": "AccessDenied", "errorMessage": f"no {n}"} if k < errors else {}
        out.append(record(n, eventTime=f"2026-01-{day:02d}T10:{k:02d}:00Z", **extra))
    return out


def _analysed_store(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Two days of events, both jobs run over them."""
    write_s3_file(tmp_path / "d2.json.gz", _records(2, 100, 5, 20))
    write_s3_file(tmp_path / "d3.json.gz", _records(3, 200, 5, 20))
    ingest(store, [str(tmp_path)], SETTINGS)
    run_jobs(store, [SPIKE, CODES], now=datetime(2026, 2, 1), settings=SETTINGS)


def test_events_older_than_a_jobs_analysis_are_counted_by_its_datafeed(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    _analysed_store(store, tmp_path)
    late = tmp_path / "late"
    late.mkdir()
    write_s3_file(late / "d1.json.gz", _records(1, 300, 3, 7))  # a region ingested later
    summary = ingest(store, [str(late)], SETTINGS)
    assert summary.stored == 10
    # Both jobs select only failed calls: the 3 errors, not the 7 successes.
    assert [(x.job_id, x.events) for x in summary.late] == [(SPIKE, 3), (CODES, 3)]
    assert any(f"`trailspike jobs reset {SPIKE} {CODES}`" in n for n in summary.notes)
    # Read again: nothing new is stored, so nothing is late.
    again = ingest(store, [str(late)], SETTINGS, force=True)
    assert (again.stored, again.late) == (0, [])


def test_events_after_the_analysis_and_a_store_never_analysed_say_nothing(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    early = write_s3_file(tmp_path / "d1.json.gz", _records(1, 1, 3, 3))
    assert ingest(store, [str(early)], SETTINGS).late == []  # no job has run yet
    days = tmp_path / "days"
    days.mkdir()
    _analysed_store(store, days)
    newer = write_s3_file(tmp_path / "d20.json.gz", _records(20, 400, 4, 4))
    summary = ingest(store, [str(newer)], SETTINGS)
    assert (summary.stored, summary.late) == (8, [])
    assert not any("older than" in note for note in summary.notes)


def test_a_rolled_back_batch_is_not_counted(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    _analysed_store(store, tmp_path)
    check = LateCheck(store)
    batch = pa.table({"event_id": ["late-1"], "ts": ["2026-01-01T09:00:00.000Z"]})
    for outcome in ("ROLLBACK", "COMMIT"):
        store.execute("BEGIN")
        store.execute(
            "INSERT INTO events (event_id, ts, error_message, doc, source_file, ingested_at) "
            "VALUES ('late-1', TIMESTAMP '2026-01-01 09:00:00', 'no', '{}', 'x', now())"
        )
        check.observe(batch, [0])
        store.execute(outcome)
        if outcome == "ROLLBACK":
            check.rollback()
            assert check.found() == []
        else:
            check.commit()
    assert [(x.job_id, x.events) for x in check.found()] == [(SPIKE, 1)]  # no error code


def test_events_dated_after_the_time_of_ingest_are_stored_and_named(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    records = [
        record(1),
        record(2, eventTime="2099-01-01T00:00:00Z"),
        record(3, eventTime="2098-06-01T00:00:00Z"),
    ]
    summary = ingest(store, [str(write_s3_file(tmp_path / "f.json.gz", records))], SETTINGS)
    assert summary.stored == 3
    (note,) = [n for n in summary.notes if "after the time of ingest" in n]
    assert note.startswith("2 events dated after the time of ingest (the latest 2099-01-01T")
