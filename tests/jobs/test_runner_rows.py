"""The runner's array-built result rows equal the rows built one record at a time.

The per-record path (``record_columns``, the influencer JSON, record ids, influencer results,
Arrow inserts) is built in array steps for speed; here a run with it and a run with a reference
that builds every record with :func:`~trailspike.jobs.records.record_row`, every influencer
result in a per-record loop, and writes dicts give the same tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from jobs_synth import T0, baseline_events, insert_events

from trailspike.core.settings import load_settings
from trailspike.jobs import bucket as bucket_module
from trailspike.jobs import explain as explain_module
from trailspike.jobs.detectors import Scored
from trailspike.jobs.influence import Influence
from trailspike.jobs.records import influencer_probability, record_row
from trailspike.jobs.runner import run_jobs
from trailspike.jobs.schema import Detector
from trailspike.jobs.shares import InfluenceColumns
from trailspike.models.normalizer import ScoreNormalizer
from trailspike.store.db import open_store
from trailspike.store.results import write_early_records, write_records

SETTINGS = load_settings(environ={}, config_path=Path("/nonexistent.toml"))
JOBS = ["rare_method_for_a_username", "rare_method_for_a_city", "high_distinct_count_error_message"]
TABLES = {
    "buckets": "SELECT * FROM buckets ORDER BY ALL",
    "records": "SELECT * EXCLUDE (created_at) FROM records ORDER BY ALL",
    "early_records": "SELECT * EXCLUDE (created_at) FROM early_records ORDER BY ALL",
    "influencers": "SELECT * FROM influencers ORDER BY ALL",
    "model_plot": "SELECT * FROM model_plot ORDER BY ALL",
}


def rows_one_by_one(
    job_id: str,
    span: int,
    buckets: Sequence[datetime],
    dets: Sequence[Detector],
    scored: Sequence[Scored],
    scores: Sequence[float],
    found: Sequence[list[Influence]] | InfluenceColumns,
) -> dict[str, list[Any]]:
    """``record_columns`` as it was: one ``record_row`` per record, turned into columns."""
    lists = found.lists() if isinstance(found, InfluenceColumns) else found
    rows = [
        record_row(job_id, d, b, span, s, score, f)
        for b, d, s, score, f in zip(buckets, dets, scored, scores, lists, strict=True)
    ]
    return {name: [row[name] for row in rows] for name in rows[0]}


def influencers_one_by_one(
    job_id: str,
    span: int,
    buckets: Sequence[datetime],
    normalizers: Sequence[ScoreNormalizer],
    bucket_of: Sequence[int],
    probabilities: Sequence[float],
    confidences: Sequence[float],
    found: InfluenceColumns,
) -> dict[str, list[Any]] | None:
    """``influencer_columns`` as it was: per bucket, a dict of each value's lowest probability
    over the records in order, then one row per value."""
    best: dict[tuple[int, str, str], tuple[float, float]] = {}
    for n, influences in enumerate(found.lists()):
        for inf in influences:
            p = influencer_probability(probabilities[n], inf.influence)
            key = (bucket_of[n], inf.field, inf.value)
            if key not in best or p < best[key][0]:
                best[key] = (p, confidences[n])
    if not best:
        return None
    rows = []
    for (b, name, value), (p, conf) in best.items():
        score = float(normalizers[b].normalize_many([p], [conf])[0])
        rows.append(
            {
                "job_id": job_id,
                "timestamp": buckets[b],
                "bucket_span": span,
                "influencer_field_name": name,
                "influencer_field_value": value,
                "influencer_score": score,
                "initial_influencer_score": score,
                "probability": p,
                "is_interim": False,
                "score_confidence": conf,
            }
        )
    return {name: [row[name] for row in rows] for name in rows[0]}


def write_one_by_one(
    con: duckdb.DuckDBPyConnection, columns: dict[str, Any], *, early: bool = False
) -> int:
    """``write_record_columns`` through the dict writers."""
    names = list(columns)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    return (write_early_records if early else write_records)(con, rows)


def new_world(path: Path) -> duckdb.DuckDBPyConnection:
    """Six days of routine traffic, then new users, cities and actions, some in bursts."""
    con = open_store(path)
    insert_events(con, baseline_events(6, seed=11))
    extra = []
    for n in range(40):
        extra.append(
            {
                "ts": T0 + timedelta(days=3, hours=n % 24, minutes=n),
                "event_action": f"Rare{n % 7}",
                "error_code": "AccessDenied",
                "error_message": f"Denied {n % 5}",
                "user_identity_arn": f"arn:aws:iam::111122223333:user/u{n % 9}",
                "user_name": f"u{n % 9}",
                # Two addresses and cities sharing a record's events: a field named twice.
                "source_ip": f"198.51.100.{n % 2}",
                "source_geo_city_name": "Zürich" if n % 3 else "Oslo",
            }
        )
    insert_events(con, extra)
    return con


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[Any]]:
    return {name: con.execute(sql).fetchall() for name, sql in TABLES.items()}


def test_array_built_rows_equal_rows_built_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    end = T0 + timedelta(days=6)
    fast = new_world(tmp_path / "fast.duckdb")
    run_jobs(fast, JOBS, end=end, now=datetime(2027, 1, 1), settings=SETTINGS)
    got = snapshot(fast)
    monkeypatch.setattr(explain_module, "record_columns", rows_one_by_one)
    monkeypatch.setattr(explain_module, "influencer_columns", influencers_one_by_one)
    monkeypatch.setattr(bucket_module, "write_record_columns", write_one_by_one)
    slow = new_world(tmp_path / "slow.duckdb")
    run_jobs(slow, JOBS, end=end, now=datetime(2027, 1, 1), settings=SETTINGS)
    expected = snapshot(slow)
    assert got == expected
    assert len(got["records"]) > 20 and len(got["early_records"]) > 20
    assert any('", "' in (row[20] or "") for row in got["records"])  # several values of a field
