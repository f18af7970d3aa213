"""Every shipped job loads, and every field it names is one trailspike can query."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from trailspike.features.bucket_duckdb import compute_features
from trailspike.features.contract import feature_request
from trailspike.features.query import TABLE_CONSTANTS
from trailspike.jobs.loader import load_jobs
from trailspike.normalise.ecs_fields import EVENT_COLUMNS

SHIPPED = list(load_jobs())
ELASTIC_MODULE = {
    "high_distinct_count_error_message",
    "rare_error_code",
    "rare_method_for_a_city",
    "rare_method_for_a_country",
    "rare_method_for_a_username",
}


def test_the_security_cloudtrail_module_is_shipped() -> None:
    assert {job.job_id for job in SHIPPED} >= ELASTIC_MODULE


@pytest.mark.parametrize("job", SHIPPED, ids=[j.job_id for j in SHIPPED])
def test_shipped_job_fields_are_queryable(job, store: duckdb.DuckDBPyConnection) -> None:
    for field in job.fields():
        assert field in EVENT_COLUMNS or field in TABLE_CONSTANTS, field
    assert job.datafeed.max_empty_searches == 10
    rows = compute_features(store, feature_request(job), datetime(2026, 1, 1), datetime(2026, 2, 1))
    assert rows.num_rows == 0


def test_anchor_job_matches_elastic() -> None:
    job = load_jobs().get("high_distinct_count_error_message")
    det = job.analysis_config.detectors[0]
    assert (job.bucket_span_seconds, det.function, det.field_name) == (
        900,
        "high_distinct_count",
        "aws.cloudtrail.error_message",
    )
    assert job.analysis_config.influencers == (
        "aws.cloudtrail.user_identity.arn",
        "source.ip",
        "source.geo.city_name",
    )
    assert job.model_memory_limit_bytes == 16 << 20
    # Beyond Elastic: one failure retried with a fresh request token counts once.
    assert job.wording_fields == ("aws.cloudtrail.error_message",)
    assert feature_request(job).detectors[0].wording


def test_user_job_is_partitioned_on_user_name() -> None:
    det = load_jobs().get("rare_method_for_a_username").analysis_config.detectors[0]
    assert (det.function, det.by_field_name, det.partition_field_name) == (
        "rare",
        "event.action",
        "user.name",
    )
