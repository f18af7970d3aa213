"""Jobs on Spark's feature rows give the DuckDB run's results, with one Spark query per job."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from jobs_synth import T0, baseline_events, insert_events

from trailspike.cli import cli
from trailspike.core.settings import load_settings
from trailspike.jobs.runner import run_jobs
from trailspike.store.db import open_store

pytestmark = [pytest.mark.spark, pytest.mark.slow]
pytest.importorskip("pyspark")

SETTINGS = load_settings(environ={}, config_path=Path("/nonexistent.toml"))
JOBS = ["high_distinct_count_error_message", "rare_method_for_a_username"]
END = T0 + timedelta(days=3)
RESULTS = (
    "SELECT * EXCLUDE (created_at) FROM records ORDER BY record_id",
    "SELECT * EXCLUDE (created_at) FROM early_records ORDER BY ALL",
    "SELECT * FROM buckets ORDER BY ALL",
    "SELECT * FROM influencers ORDER BY ALL",
)


def store_with_events(path: Path):
    con = open_store(path)
    rows = baseline_events(3, seed=5)
    rows += [
        {**rows[0], "ts": T0 + timedelta(days=2, hours=4, seconds=k), "error_message": f"m{k}"}
        for k in range(25)
    ]
    insert_events(con, rows)
    return con


def test_spark_engine_gives_the_duckdb_results(tmp_path: Path) -> None:
    from trailspike.features.source import spark_features

    duck = store_with_events(tmp_path / "duck.duckdb")
    run_jobs(duck, JOBS, end=END, now=datetime(2030, 1, 1), settings=SETTINGS)
    spark_store = store_with_events(tmp_path / "spark.duckdb")
    source = spark_features(spark_store, tmp_path)
    try:
        run_jobs(
            spark_store,
            JOBS,
            end=END,
            now=datetime(2030, 1, 1),
            settings=SETTINGS,
            features=source,
        )
    finally:
        source.spark.stop()
    assert source.queries == len(JOBS)  # one Spark query per job, chunks served from it
    for sql in RESULTS:
        assert spark_store.execute(sql).fetchall() == duck.execute(sql).fetchall(), sql
    assert duck.execute("SELECT count(*) FROM records").fetchone()[0] > 0


def test_cli_runs_jobs_on_spark(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    store_with_events(db).close()
    result = CliRunner().invoke(
        cli,
        ["jobs", "run", JOBS[0], "--db", str(db), "--engine", "spark", "--end", END.isoformat()],
    )
    assert result.exit_code == 0, result.output
    assert f"{JOBS[0]}: 288 buckets" in result.output  # three days of 15-minute buckets
