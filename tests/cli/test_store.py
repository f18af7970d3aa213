"""`trailspike store info` and `trailspike store prune` through click, on a real store."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
from jobs_synth import T0, insert_events

from trailspike.cli import cli
from trailspike.store.db import open_store


def _store(tmp_path: Path, days: int = 20) -> str:
    db = str(tmp_path / "t.duckdb")
    con = open_store(db)
    rows = [{"ts": T0 + timedelta(days=d), "error_message": "denied"} for d in range(days)]
    insert_events(con, rows)
    con.close()
    return db


def test_info_lists_tables_and_the_events_time_span(tmp_path: Path) -> None:
    db = _store(tmp_path)
    result = CliRunner().invoke(cli, ["store", "info", "--db", db])
    assert result.exit_code == 0, result.output
    assert "events" in result.output and "20" in result.output
    assert "2026-01-05 00:00 → 2026-01-24 00:00" in result.output
    assert "MiB" in result.output
    assert "retention: events off, results off" in result.output
    set_ = CliRunner().invoke(
        cli, ["store", "info", "--db", db, "--setting", "events_retention", "90d"]
    )
    assert "retention: events 90d, results off" in set_.output


def _events_stored(db: str) -> int:
    con = open_store(db)
    try:
        (count,) = con.execute("SELECT count(*) FROM events").fetchall()[0]
        return int(count)
    finally:
        con.close()


def test_prune_dry_run_then_prune(tmp_path: Path) -> None:
    db = _store(tmp_path)
    runner = CliRunner()
    dry = runner.invoke(cli, ["store", "prune", "--db", db, "--events", "7d", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "events before 2026-01-17 00:00 UTC" in dry.output
    assert "would delete 12 events" in dry.output
    done = runner.invoke(cli, ["store", "prune", "--db", db, "--setting", "events_retention", "7d"])
    assert done.exit_code == 0, done.output
    assert "deleted 12 events" in done.output
    assert _events_stored(db) == 8


def test_prune_without_a_retention_or_with_a_bad_one_explains(tmp_path: Path) -> None:
    db = _store(tmp_path)
    runner = CliRunner()
    none = runner.invoke(cli, ["store", "prune", "--db", db])
    assert none.exit_code != 0 and "no retention set" in none.output
    short = runner.invoke(cli, ["store", "prune", "--db", db, "--events", "2d"])
    assert short.exit_code != 0
    assert "shorter than 7d" in str(short.exception) + short.output


def test_compact_rewrites_the_store_and_refuses_while_a_service_runs(tmp_path: Path) -> None:
    from trailspike.service.runner import ServiceLock

    db = _store(tmp_path)
    runner = CliRunner()
    lock = ServiceLock(db)
    lock.acquire()
    try:
        busy = runner.invoke(cli, ["store", "compact", "--db", db])
    finally:
        lock.release()
    assert busy.exit_code != 0 and "compacting replaces the file" in busy.output
    done = runner.invoke(cli, ["store", "compact", "--db", db])
    assert done.exit_code == 0, done.output
    assert " MiB -> " in done.output
    assert _events_stored(db) == 20


def test_a_missing_store_is_named_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo.duckdb"
    for args in (["store", "info"], ["store", "prune", "--events", "7d"], ["store", "compact"]):
        result = CliRunner().invoke(cli, [*args, "--db", str(missing)])
        assert result.exit_code != 0 and "no store at" in str(result.exception) + result.output
    assert not missing.exists()
