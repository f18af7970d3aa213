from __future__ import annotations

from pathlib import Path

import pytest

from trailspike.core.errors import StoreBusyError
from trailspike.store.db import apply_migrations, open_store


def test_migrations_apply_once(tmp_path: Path) -> None:
    con = open_store(tmp_path / "s.duckdb")
    assert apply_migrations(con) == []
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert {"events", "quarantine", "records", "buckets", "alerts"} <= tables
    con.close()


def test_second_writer_gets_an_explanation(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "busy.duckdb"
    open_store(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ok', flush=True); time.sleep(30)",
            str(path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ok"
        with pytest.raises(StoreBusyError, match="another process"):
            open_store(path)
    finally:
        holder.kill()
