"""Workers hand their tables over through spool files: same rows, no files left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from ingest_helpers import record, write_odd_files, write_s3_file

from shared_data import shared_path
from trailspike.core.settings import load_settings
from trailspike.ingest import normalizer, pipeline
from trailspike.ingest.normalizer import Chunk
from trailspike.ingest.pipeline import ingest
from trailspike.ingest.spool import make_spool_dir, read_table, remove_stale, write_table
from trailspike.store.db import open_store


def _table(start: int, rows: int) -> pa.Table:
    return pa.table({"n": list(range(start, start + rows)), "s": [f"é{i}" for i in range(rows)]})


def test_spooled_tables_come_back_equal_and_the_file_is_removed(tmp_path: Path) -> None:
    tables = [_table(0, 3), pa.concat_tables([_table(3, 2), _table(5, 4)]), _table(9, 1)]
    paths = [write_table(str(tmp_path), table) for table in tables]
    assert len(set(paths)) == 3
    for path, table in reversed(list(zip(paths, tables, strict=True))):
        assert read_table(path).equals(table)
        assert not Path(path).exists()


def test_a_worker_that_cannot_spool_sends_its_tables_pickled(tmp_path: Path) -> None:
    path = write_s3_file(tmp_path / "a.json.gz", [record(n) for n in range(30)])
    saved = normalizer._WORKER, normalizer._WORKER_SETTINGS, normalizer._SPOOL
    try:
        normalizer.init_worker(
            {"ingest_batch_size": 7}, datetime(2026, 12, 1), None, "/nonexistent"
        )
        chunks = normalizer.process_path(str(path))
        ok_spool = tmp_path / "spool"
        ok_spool.mkdir()
        normalizer._SPOOL = str(ok_spool)
        spooled = normalizer.process_path(str(path))
    finally:
        normalizer._WORKER, normalizer._WORKER_SETTINGS, normalizer._SPOOL = saved
    assert [c.spool for c in chunks] == [None] * 5
    assert sum(c.table.num_rows for c in chunks if c.table is not None) == 30
    assert all(c.table is None and c.spool for c in spooled)
    back = normalizer.unspool(spooled)
    assert pa.concat_tables([c.table for c in back]).equals(  # type: ignore[misc]
        pa.concat_tables([c.table for c in chunks])  # type: ignore[misc]
    )
    assert list(ok_spool.iterdir()) == []


def test_folders_of_finished_processes_are_removed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    stale = tmp_path / f"trailspike-ingest-{int(done.stdout)}-abc"
    (stale / "x.arrow").parent.mkdir()
    (stale / "x.arrow").write_bytes(b"x")
    mine = Path(make_spool_dir(str(tmp_path)))
    other = tmp_path / "something-else"
    other.mkdir()
    remove_stale(str(tmp_path))
    assert stale.exists()  # recently written: perhaps another PID namespace's live run
    remove_stale(str(tmp_path), min_age=0)
    assert not stale.exists()
    assert mine.exists() and other.exists()
    assert mine.name.startswith(f"trailspike-ingest-{os.getpid()}-")


def _corpus(folder: Path) -> None:
    """The shared samples, plus generated files with duplicates and bad and odd records."""
    shutil.copytree(shared_path("cloudtrail_samples"), folder / "samples")
    for n in range(3):
        write_s3_file(folder / f"f{n}.json.gz", [record(n * 100 + i) for i in range(40)])
    write_odd_files(folder)


def _rows(con: Any) -> dict[str, list[Any]]:
    events = con.execute(
        "SELECT * EXCLUDE (ingested_at) FROM events ORDER BY event_id, ts, source_file, doc"
    ).fetchall()
    doc = [d[0] for d in con.execute("DESCRIBE events").fetchall()].index("doc")
    return {
        "events": [(*row[:doc], orjson.loads(row[doc]), *row[doc + 1 :]) for row in events],
        "docs": [row[doc] for row in events],
        "quarantine": con.execute(
            "SELECT path, line, record_index, reason, snippet FROM quarantine ORDER BY ALL"
        ).fetchall(),
        "files": con.execute(
            "SELECT path, records, stored, duplicates, quarantined, complete FROM ingested_files "
            "ORDER BY path"
        ).fetchall(),
    }


def test_spooling_workers_store_what_one_process_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _corpus(tmp_path / "in")
    spool_root = tmp_path / "spool"
    spool_root.mkdir()
    monkeypatch.setattr("trailspike.ingest.spool.spool_root", lambda: str(spool_root))
    spooled: list[str] = []

    def unspool(chunks: list[Chunk]) -> list[Chunk]:
        spooled.extend(c.spool for c in chunks if c.spool is not None and c.table is None)
        return normalizer.unspool(chunks)

    monkeypatch.setattr(pipeline, "unspool", unspool)
    results = []
    for workers, limit in ((1, pipeline.PARALLEL_MIN_BYTES), (2, 0)):
        monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", limit)
        con = open_store(tmp_path / f"w{workers}.duckdb")
        settings = load_settings({"ingest_workers": workers}, environ={})
        summary = ingest(con, [str(tmp_path / "in")], settings)
        results.append((summary.records, summary.stored, summary.duplicates, _rows(con)))
        con.close()
    assert results[0] == results[1]  # documents equal as parsed JSON and byte for byte
    assert len(results[0][3]["events"]) > 250 and results[0][3]["quarantine"]
    assert len(set(spooled)) >= 10  # the workers' tables did come through spool files
    assert list(spool_root.iterdir()) == []  # the run's spool folder is gone
