"""Compacting a store: the same rows, sequences and job state in a smaller file."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
from jobs_synth import T0, baseline_events, insert_events

from trailspike.core.settings import load_settings
from trailspike.jobs.runner import run_jobs
from trailspike.store.compact import compact
from trailspike.store.db import open_store
from trailspike.store.retention import Retention, prune

SPIKE = "high_distinct_count_error_message"
SETTINGS = load_settings({"early_results": "off"}, environ={})
TABLES = ("events", "quarantine", "job_state", "buckets", "records", "model_plot", "influencers")


def _counts(path: Path) -> dict[str, int]:
    con = open_store(path)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


def test_a_pruned_store_compacts_to_a_smaller_file_with_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    con = open_store(path)
    insert_events(con, baseline_events(12))
    run_jobs(con, [SPIKE], end=T0 + timedelta(days=12), settings=SETTINGS)
    for n in range(3):
        con.execute(
            "INSERT INTO quarantine (path, line, reason, snippet, quarantined_at) "
            "VALUES ('f.json', ?, 'bad JSON', '{', ?)",
            [n, T0 + timedelta(days=12)],
        )
    assert prune(con, Retention(events=timedelta(days=7)), [SPIKE]).deleted["events"] > 0
    con.close()
    before = _counts(path)
    done = compact(path)
    assert done.after < done.before and path.stat().st_size == done.after
    assert _counts(path) == before
    assert not (tmp_path / "s.duckdb.compact").exists()
    con = open_store(path)
    try:
        # Sequences keep their values: a new quarantined record does not reuse an id.
        con.execute(
            "INSERT INTO quarantine (path, line, reason, snippet, quarantined_at) "
            "VALUES ('g.json', 1, 'bad JSON', '{', ?)",
            [T0],
        )
        ids = [r[0] for r in con.execute("SELECT id FROM quarantine ORDER BY id").fetchall()]
        assert ids == [1, 2, 3, 4]
        # The job resumes from its stored state on the next day's events.
        insert_events(con, [{**e, "ts": e["ts"] + timedelta(days=12)} for e in baseline_events(1)])
        (summary,) = run_jobs(con, [SPIKE], end=T0 + timedelta(days=13), settings=SETTINGS)
        assert summary.status == "ran" and summary.buckets == 96
    finally:
        con.close()
