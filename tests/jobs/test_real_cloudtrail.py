"""All shipped jobs over real CloudTrail records ingested by trailspike's own pipeline."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from shared_data import shared_path
from trailspike.core.settings import load_settings
from trailspike.jobs.runner import run_jobs
from trailspike.store.results import query_records

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def test_every_shipped_job_runs_over_ingested_cloudtrail(store, tmp_path) -> None:
    from trailspike.ingest.pipeline import ingest

    samples = shared_path("cloudtrail_samples", "panther_tests")
    settings = load_settings(environ={}, config_path=tmp_path / "none.toml")
    ingest(store, [str(samples)], settings)
    events = store.execute("SELECT count(*) FROM events").fetchall()[0][0]
    assert events > 100
    far = datetime(2030, 1, 1)
    summaries = run_jobs(store, now=far, end=far, settings=settings)
    by_id = {s.job_id: s for s in summaries}
    assert by_id["high_distinct_count_error_message"].status == "ran"
    assert by_id["rare_method_for_a_username"].events > 50
    for record in query_records(store):
        assert 0 <= record["record_score"] <= record["initial_record_score"] <= 100
        assert record["function"] in ("rare", "high_distinct_count")
        if record["influencers"]:
            assert all(i["influencer_field_values"] for i in json.loads(record["influencers"]))
    again = run_jobs(store, now=far, end=far, settings=settings)
    assert all(s.status in ("up to date", "no data") and s.buckets == 0 for s in again)
