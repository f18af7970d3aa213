"""Per-bucket feature rows from DuckDB: one contract for every function."""

from __future__ import annotations

from datetime import datetime, timedelta

from trailspike.features.bucket_duckdb import compute_features
from trailspike.features.contract import FEATURE_SCHEMA, DetectorFeature, FeatureRequest
from trailspike.features.query import parse_query

T0 = datetime(2026, 3, 2, 10, 0)  # the events fixture's first bucket (conftest.py)


def rows(con, function, field=None, by=None, partition=None, use_null=False, where=None):
    det = DetectorFeature(0, function, field, by, None, partition, use_null)
    req = FeatureRequest("j", 900, (det,), parse_query(where) if where else None)
    table = compute_features(con, req, T0, T0 + timedelta(hours=1))
    assert table.schema == FEATURE_SCHEMA
    return [
        (r["bucket_start"].minute, r["partition"], r["by"], r["value"]) for r in table.to_pylist()
    ]


def test_count_and_distinct(events) -> None:
    assert rows(events, "count") == [(0, "", "", 4.0), (15, "", "", 1.0)]
    assert rows(events, "high_distinct_count", "aws.cloudtrail.error_message") == [
        (0, "", "", 2.0),
        (15, "", "", 1.0),
    ]


def test_partition_and_by_split_and_skip_missing(events) -> None:
    assert rows(events, "rare", by="event.action", partition="user.name") == [
        (0, "u1", "A", 2.0),
        (0, "u2", "B", 1.0),
        (15, "u1", "A", 1.0),
    ]
    assert rows(events, "count", partition="user.name", use_null=True)[0] == (0, "", "", 1.0)


def test_metric_functions(events) -> None:
    assert rows(events, "mean", "source.as.number") == [(0, "", "", 20.0), (15, "", "", 5.0)]
    assert rows(events, "sum", "source.as.number")[0][3] == 60.0
    assert rows(events, "min", "source.as.number")[0][3] == 10.0
    assert rows(events, "max", "source.as.number")[0][3] == 30.0


def test_datafeed_query_filters(events) -> None:
    assert rows(events, "count", where={"term": {"user.name": "u2"}}) == [(0, "", "", 1.0)]
