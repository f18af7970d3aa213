"""The demo end to end on a small world: every step runs, outputs exist, a rerun does nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from trailspike.core.settings import load_settings
from trailspike.demo.generate import WorldParams
from trailspike.demo.runner import CITY_TEST_DB, demo_settings, run_demo, write_report
from trailspike.store.db import open_store


def test_demo_settings_use_the_test_geoip_databases_unless_configured(tmp_path: Path) -> None:
    base = load_settings(environ={})
    settings = demo_settings(base, tmp_path / "d.duckdb")
    assert settings["db"] == str(tmp_path / "d.duckdb")
    if CITY_TEST_DB.exists():
        assert settings["geoip_city_db"] == str(CITY_TEST_DB)
    own = demo_settings({**base, "geoip_city_db": "/my/city.mmdb"}, tmp_path / "d.duckdb")
    assert own["geoip_city_db"] == "/my/city.mmdb"


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reruns_idempotently(tmp_path: Path) -> None:
    params = WorldParams(seed=9, days=2, scale=0.1)
    lines: list[str] = []
    first = run_demo(tmp_path, params, load_settings(environ={}), say=lines.append)
    assert first.generated
    assert first.events_stored == first.world["events"] > 10_000
    assert {"generate", "ingest", "jobs", "rules"} <= first.steps.keys()
    assert any(line.startswith("Ingest:") for line in lines)
    con = open_store(first.db_path)
    try:
        report = write_report(con, first, load_settings(environ={}))
        executions = con.execute("SELECT count(*) FROM rule_executions").fetchone()
        # The last runs' windows start inside the world: no rule is told its job is behind.
        warned = con.execute(
            "SELECT count(*) FROM rule_executions WHERE warnings LIKE '%is behind%'"
        ).fetchone()
    finally:
        con.close()
    assert report is not None and report.read_text().lstrip().lower().startswith("<!doctype html")
    assert warned == (0,)
    again = run_demo(tmp_path, params, load_settings(environ={}), say=lines.append)
    assert not again.generated
    assert again.events_stored == first.events_stored and again.alerts == first.alerts
    con = open_store(first.db_path)
    try:
        assert con.execute("SELECT count(*) FROM rule_executions").fetchone() == executions
    finally:
        con.close()


def test_a_world_dated_after_today_is_not_called_future_data(tmp_path: Path) -> None:
    # The default world ends a day after the session that wrote it; a world of 2030 is read
    # by the world's clock, as its jobs and rules are.
    params = WorldParams(seed=9, days=2, scale=0.1, start="2030-01-07")
    result = run_demo(tmp_path, params, load_settings(environ={}), say=lambda _: None)
    assert result.events_stored > 10_000
    # Only what lies over an hour past the world's own end (a short world's scenarios spill).
    con = open_store(result.db_path)
    try:
        (beyond,) = con.execute(
            "SELECT count(*) FROM events WHERE ts >= TIMESTAMP '2030-01-09 02:00:01'"
        ).fetchone()
    finally:
        con.close()
    future = [n for n in result.notes if "after the time of ingest" in n]
    assert beyond < result.events_stored / 100
    if beyond:
        assert len(future) == 1 and future[0].startswith(f"{beyond:,} events dated after the")
    else:
        assert future == []
