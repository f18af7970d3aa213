"""Results storage: idempotent writes, deterministic ids, renormalised scores, state rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from trailspike.store.db import open_store
from trailspike.store.results import (
    DIRECT_APPEND_ROWS,
    batched_checkpoints,
    delete_job_results,
    load_job_state,
    query_records,
    record_id,
    save_job_state,
    scored_in_window,
    update_scores,
    write_buckets,
    write_influencers,
    write_record_columns,
    write_records,
)

T0 = datetime(2026, 1, 1, 10)


def record(ts: datetime, score: float, by: str = "x") -> dict:
    return {
        "record_id": record_id("j", ts, 900, 0, by=by),
        "job_id": "j",
        "timestamp": ts,
        "bucket_span": 900,
        "detector_index": 0,
        "function": "rare",
        "function_description": "rare",
        "by_field_name": "event.action",
        "by_field_value": by,
        "probability": 1e-4,
        "record_score": score,
        "initial_record_score": score,
        "score_confidence": 1.0,
    }


def test_record_id_is_deterministic_and_distinguishes_series() -> None:
    assert record_id("j", T0, 900, 0, "p", "b") == record_id("j", T0, 900, 0, "p", "b")
    assert record_id("j", T0, 900, 0, "p", "b") != record_id("j", T0, 900, 0, "pb", "")


def test_writes_are_idempotent(store: duckdb.DuckDBPyConnection) -> None:
    bucket = {
        "job_id": "j",
        "timestamp": T0,
        "bucket_span": 900,
        "anomaly_score": 80.0,
        "initial_anomaly_score": 80.0,
        "event_count": 4,
    }
    for _ in range(2):
        write_buckets(store, [bucket])
        write_records(store, [record(T0, 80.0)])
        write_influencers(
            store,
            [
                {
                    "job_id": "j",
                    "timestamp": T0,
                    "bucket_span": 900,
                    "influencer_field_name": "user.name",
                    "influencer_field_value": "u",
                    "influencer_score": 80.0,
                    "initial_influencer_score": 80.0,
                    "probability": 1e-4,
                }
            ],
        )
    counts = [
        store.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("buckets", "records", "influencers")
    ]
    assert counts == [1, 1, 1]


def test_update_scores_keeps_initial_and_refreshes_buckets(store) -> None:
    write_buckets(
        store,
        [
            {
                "job_id": "j",
                "timestamp": T0,
                "bucket_span": 900,
                "anomaly_score": 90.0,
                "initial_anomaly_score": 90.0,
                "event_count": 1,
            }
        ],
    )
    write_records(store, [record(T0, 90.0, "a"), record(T0, 40.0, "b")])
    recs, _ = scored_in_window(store, "j", T0, T0 + timedelta(hours=1))
    assert len(recs) == 2
    update_scores(
        store, "j", [(record_id("j", T0, 900, 0, by="a"), 30.0)], [], T0, T0 + timedelta(hours=1)
    )
    got = {
        r["by_field_value"]: (r["record_score"], r["initial_record_score"])
        for r in query_records(store, "j")
    }
    assert got == {"a": (30.0, 90.0), "b": (40.0, 40.0)}
    assert store.execute("SELECT anomaly_score, initial_anomaly_score FROM buckets").fetchone() == (
        40.0,
        90.0,
    )


def test_query_records_filters(store) -> None:
    write_records(store, [record(T0, 90.0, "a"), record(T0 + timedelta(hours=2), 20.0, "b")])
    assert [r["by_field_value"] for r in query_records(store, min_score=50)] == ["a"]
    assert [r["by_field_value"] for r in query_records(store, since=T0 + timedelta(hours=1))] == [
        "b"
    ]
    assert query_records(store, job_id="other") == []


def test_job_state_round_trip_and_delete(store) -> None:
    assert load_job_state(store, "j") is None
    save_job_state(store, "j", "rev", T0, b"blob", 123)
    state = load_job_state(store, "j")
    assert state is not None and (state.state, state.last_bucket_end, state.memory_bytes) == (
        b"blob",
        T0,
        123,
    )
    write_records(store, [record(T0, 90.0)])
    delete_job_results(store, "j")
    assert load_job_state(store, "j") is None and query_records(store) == []


def test_job_state_saved_again_replaces_the_row(store) -> None:
    save_job_state(store, "j", "rev", T0, b"blob", 123)
    save_job_state(store, "k", "other", T0, b"k", 1)
    later = T0 + timedelta(days=1)
    save_job_state(store, "j", "rev2", later, b"blob2" * 100_000, 500_000)
    state = load_job_state(store, "j")
    assert state is not None
    assert (state.job_revision, state.last_bucket_end, state.state, state.memory_bytes) == (
        "rev2",
        later,
        b"blob2" * 100_000,
        500_000,
    )
    assert store.execute("SELECT count(*) FROM job_state").fetchall() == [(2,)]
    other = load_job_state(store, "k")
    assert other is not None and (other.job_revision, other.state) == ("other", b"k")


def test_a_batch_overlapping_stored_rows_replaces_them_and_a_new_range_is_appended(
    store: duckdb.DuckDBPyConnection,
) -> None:
    hour = timedelta(hours=1)
    write_records(store, [record(T0, 10.0), record(T0 + hour, 20.0)])  # nothing stored: INSERT
    # Overlaps the stored range: the stored row of T0+1h is replaced, T0+2h is added.
    write_records(store, [record(T0 + hour, 25.0), record(T0 + 2 * hour, 30.0)])
    # Another job at the same times cannot collide with job j's rows.
    other = {**record(T0, 40.0), "job_id": "k", "record_id": record_id("k", T0, 900, 0, by="x")}
    write_records(store, [other])
    rows = store.execute(
        "SELECT job_id, timestamp, record_score FROM records ORDER BY job_id, timestamp"
    ).fetchall()
    assert rows == [
        ("j", T0, 10.0),
        ("j", T0 + hour, 25.0),
        ("j", T0 + 2 * hour, 30.0),
        ("k", T0, 40.0),
    ]
    columns = {c: [v] for c, v in {**record(T0 + hour, 50.0), "data_end": T0 + 1.5 * hour}.items()}
    for score in (50.0, 60.0):  # the second write replaces the first early record
        columns["record_score"] = [score]
        assert write_record_columns(store, columns, early=True) == 1
    assert store.execute("SELECT record_score, is_interim FROM early_records").fetchall() == [
        (60.0, True)
    ]


def test_a_large_insert_appends_directly_every_row_in_order(store) -> None:
    """From DIRECT_APPEND_ROWS rows on, a plain insert goes through ``RETURNING``: the same
    rows in the same order, and the connection free for the next statement."""
    n = DIRECT_APPEND_ROWS + 7
    rows = [record(T0 + timedelta(minutes=15 * i), float(i % 100), by=f"a{i}") for i in range(n)]
    assert write_records(store, rows) == n
    stored = store.execute("SELECT record_id, record_score FROM records ORDER BY rowid").fetchall()
    assert stored == [(r["record_id"], r["record_score"]) for r in rows]
    # Rows in a stored range take the replacing path, large or not.
    again = [{**r, "record_score": 1.0} for r in rows]
    assert write_records(store, again) == n
    assert store.execute("SELECT count(*), max(record_score) FROM records").fetchall() == [(n, 1.0)]


def threshold(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0])


def test_batched_checkpoints_wait_for_the_end_then_restore_the_threshold(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    con = open_store(path)
    con.execute("SET checkpoint_threshold = '4KiB'")
    wal = Path(str(path) + ".wal")
    with batched_checkpoints(con):
        assert threshold(con) == "64.0 MiB"
        rows = [record(T0 + timedelta(minutes=15 * n), 10.0, by=f"a{n}") for n in range(300)]
        write_records(con, rows)
        # Past the caller's 4 KiB, yet not checkpointed while the jobs run.
        assert wal.exists() and wal.stat().st_size > 4096
    assert threshold(con) == "4.0 KiB"
    assert not wal.exists() or wal.stat().st_size <= 4096  # checkpointed once, at the end
    assert con.execute("SELECT count(*) FROM records").fetchall() == [(300,)]
    with pytest.raises(RuntimeError), batched_checkpoints(con):
        raise RuntimeError("a job failed")
    assert threshold(con) == "4.0 KiB"


def test_batched_checkpoints_leave_a_store_in_memory_as_it_is() -> None:
    con = open_store(":memory:")
    before = threshold(con)
    with batched_checkpoints(con):
        assert threshold(con) == before


def test_record_columns_may_be_arrow_arrays(store) -> None:
    rows = [record(T0, 70.0, by="a"), record(T0, 40.0, by="b")]
    columns = {name: [r.get(name) for r in rows] for name in rows[0]}
    columns["by_field_value"] = pa.array(["a", "b"])
    assert write_record_columns(store, columns) == 2
    got = store.execute(
        "SELECT by_field_value, record_score, is_interim FROM records ORDER BY 1"
    ).fetchall()
    assert got == [("a", 70.0, False), ("b", 40.0, False)]
