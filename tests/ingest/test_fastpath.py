"""Ingest by the fast path stores the reference path's rows; commits land on row groups."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from ingest_helpers import record, write_odd_files, write_s3_file

from shared_data import shared_path
from trailspike.core.settings import load_settings
from trailspike.ingest import pipeline
from trailspike.ingest.normalizer import Context, process_stream
from trailspike.ingest.pipeline import ingest
from trailspike.store.db import open_store

# Every events column but ingested_at (the time of the run), in a fixed order.
ROWS_SQL = "SELECT * EXCLUDE (ingested_at) FROM events ORDER BY event_id, ts, source_file, doc"


def _corpus(folder: Path) -> list[str]:
    """Shared samples, a tiny demo world and hand-made files with bad and odd records."""
    from trailspike.demo.generate import WorldParams, generate_world

    samples = shared_path("cloudtrail_samples")
    shutil.copytree(samples, folder / "samples")
    generate_world(folder / "demo", WorldParams(days=1, scale=0.05))
    write_odd_files(folder)
    return [str(folder)]


def _ingest(path: Path, sources: list[str], **overrides: Any) -> duckdb.DuckDBPyConnection:
    con = open_store(path)
    ingest(con, sources, load_settings(overrides, environ={}))
    return con


def test_fast_and_reference_paths_store_identical_rows(tmp_path: Path) -> None:
    sources = _corpus(tmp_path / "in")
    fast = _ingest(tmp_path / "fast.duckdb", sources, ingest_fast_path=True)
    reference = _ingest(tmp_path / "ref.duckdb", sources, ingest_fast_path=False)
    for sql in (
        ROWS_SQL,
        "SELECT path, line, record_index, reason, snippet FROM quarantine ORDER BY ALL",
        "SELECT path, records, stored, duplicates, quarantined, complete FROM ingested_files "
        "ORDER BY path",
    ):
        got = fast.execute(sql).fetchall()
        assert got == reference.execute(sql).fetchall()
        assert got
    assert fast.execute("SELECT count(*) FROM events").fetchone()[0] > 500  # type: ignore[index]


def test_fast_and_reference_chunks_are_equal_arrow_tables(tmp_path: Path) -> None:
    path = write_s3_file(tmp_path / "a.json.gz", [record(n) for n in range(30)])
    now = datetime(2026, 12, 1)
    tables = []
    for fast in (True, False):
        ctx = Context.from_settings({"ingest_fast_path": fast, "ingest_batch_size": 7}, now)
        with path.open("rb") as stream:
            chunks = list(process_stream(stream, str(path), ctx))
        assert [c.table.num_rows for c in chunks if c.table is not None] == [7, 7, 7, 7, 2]
        tables.append(pa.concat_tables([c.table for c in chunks if c.table is not None]))
    assert tables[0].schema == tables[1].schema
    assert tables[0].equals(tables[1])


@pytest.fixture
def small_row_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    # Row groups of 7 rows and flushes every 5 rows: many commits land mid-batch.
    monkeypatch.setattr(pipeline, "ROW_GROUP_ROWS", 7)


def _files(folder: Path) -> list[str]:
    folder.mkdir()
    for n in range(5):
        # Each file repeats an event of the one before: duplicates across files and commits.
        events = [record(n * 10 + i) for i in range(10)] + [record(n * 10 - 1)] * (n > 0)
        write_s3_file(folder / f"f{n}.json.gz", events)
    return [str(folder)]


def test_commits_on_row_group_boundaries_store_everything_once(
    tmp_path: Path, small_row_groups: None
) -> None:
    sources = _files(tmp_path / "in")
    aligned = _ingest(tmp_path / "a.duckdb", sources, ingest_batch_size=5)
    assert aligned.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (
        50,
        50,
    )
    assert aligned.execute(
        "SELECT sum(records), sum(stored), sum(duplicates), bool_and(complete) FROM ingested_files"
    ).fetchone() == (54, 50, 4, True)


def test_a_run_that_fails_mid_way_resumes_without_storing_twice(
    tmp_path: Path, small_row_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = _files(tmp_path / "in")
    calls = {"n": 0}
    real_insert = pipeline.insert_events

    def failing_insert(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 6:
            raise RuntimeError("killed")
        return real_insert(*args)

    monkeypatch.setattr(pipeline, "insert_events", failing_insert)
    con = open_store(tmp_path / "s.duckdb")
    settings = load_settings({"ingest_batch_size": 5, "ingest_workers": 1}, environ={})
    with pytest.raises(RuntimeError):
        ingest(con, sources, settings)
    partial = con.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
    complete = con.execute("SELECT count(*) FROM ingested_files WHERE complete").fetchone()
    assert 0 < partial < 50 and complete is not None and complete[0] < 5
    monkeypatch.setattr(pipeline, "insert_events", real_insert)
    summary = ingest(con, sources, settings)
    assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (
        50,
        50,
    )
    assert summary.stored == 50 - partial
    assert con.execute("SELECT bool_and(complete) FROM ingested_files").fetchone() == (True,)


def _count_rows_at_commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The stored event count after each commit of the run, filled in as it commits."""
    stored: list[int] = []
    real_commit = pipeline._Run._commit

    def counting_commit(run: pipeline._Run) -> None:
        real_commit(run)
        stored.append(run.con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]

    monkeypatch.setattr(pipeline._Run, "_commit", counting_commit)
    return stored


def test_the_last_transaction_holds_a_row_group_when_the_files_left_allow_it(
    tmp_path: Path, small_row_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB appends a transaction under a row group row by row and checkpoints it (+3.4 µs
    per demo event), so the boundary before the run's last few rows passes without a commit."""
    sources = _files(tmp_path / "in")
    stored = _count_rows_at_commits(monkeypatch)
    con = _ingest(tmp_path / "s.duckdb", sources, ingest_batch_size=5, ingest_workers=1)
    assert all(count % 7 == 0 for count in stored[:-1])  # the others end on row groups
    assert stored[-1] == 50 and stored[-1] - stored[-2] >= 7
    assert con.execute("SELECT bool_and(complete), sum(stored) FROM ingested_files").fetchone() == (
        True,
        50,
    )


def test_a_wrong_estimate_passes_one_boundary_at_most(
    tmp_path: Path, small_row_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However few rows are expected, a transaction commits at its second row-group boundary."""
    sources = _files(tmp_path / "in")
    stored = _count_rows_at_commits(monkeypatch)
    monkeypatch.setattr(pipeline._Run, "_rows_to_come", lambda run: 0.0)
    _ingest(tmp_path / "s.duckdb", sources, ingest_batch_size=5, ingest_workers=1)
    assert stored == [0, 14, 28, 42, 50]
