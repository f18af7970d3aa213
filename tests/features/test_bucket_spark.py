"""The Spark path gives exactly the DuckDB path's feature rows on one fixture."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from trailspike.features.bucket_duckdb import compute_features
from trailspike.features.contract import SORT_KEYS, DetectorFeature, FeatureRequest
from trailspike.features.query import parse_query

pytestmark = [pytest.mark.spark, pytest.mark.slow]
pytest.importorskip("pyspark")

T0 = datetime(2026, 2, 2)


def _message(rng: random.Random) -> str:
    """An error message, some with parts that differ on every request (read by wording)."""
    token = "".join(rng.choice("abcXYZ019_-") for _ in range(24))
    return rng.choice(
        [
            f"denied {rng.randint(0, 30)}",
            f"Not authorized. Encoded authorization failure message: {token}",
            f"Access Denied (Request ID: {rng.getrandbits(64):016X})",
            f"Signature expired: 202602{rng.randint(10, 28)}T0{rng.randint(0, 9)}0000Z is early",
            f"User: arn:aws:sts::123456789012:assumed-role/r/aws-go-sdk-{rng.getrandbits(60)}0",
            f"User: arn:aws:sts::1:assumed-role/t/{rng.getrandbits(128):032x} is not authorized",
        ]
    )


@pytest.fixture
def events(store):
    rng = random.Random(5)
    rows = []
    for n in range(3000):
        has_error = rng.random() < 0.3
        rows.append(
            {
                "event_id": f"e{n}",
                "ts": T0 + timedelta(seconds=rng.randint(0, 3 * 86400)),
                "event_action": rng.choice(["GetObject", "PutObject", "ListRoles", "DeleteTrail"]),
                "error_message": _message(rng) if has_error else None,
                "user_name": rng.choice(["alice", "bob", "carol", None]),
                "source_geo_city_name": rng.choice(["Dublin", "Lagos", None]),
                "source_as_number": rng.choice([16509, 14618, 8075, None]),
                "doc": json.dumps(
                    {"aws": {"cloudtrail": {"flattened": {"tier": rng.choice("ab")}}}}
                ),
                "ingested_at": T0,
            }
        )
    store.register("rows", pa.Table.from_pylist(rows))
    store.execute("INSERT INTO events BY NAME SELECT * FROM rows")
    return store


DETECTORS = (
    DetectorFeature(0, "high_distinct_count", "aws.cloudtrail.error_message"),
    DetectorFeature(1, "rare", by_field_name="event.action", partition_field_name="user.name"),
    DetectorFeature(2, "count", partition_field_name="source.geo.city_name", use_null=True),
    DetectorFeature(3, "mean", "source.as.number", over_field_name="user.name"),
    DetectorFeature(4, "max", "source.as.number", by_field_name="aws.cloudtrail.flattened.tier"),
    DetectorFeature(5, "low_sum", "source.as.number"),
    DetectorFeature(6, "high_distinct_count", "aws.cloudtrail.error_message", wording=True),
)
QUERY = {
    "bool": {
        "filter": [
            {"term": {"event.dataset": "aws.cloudtrail"}},
            {"range": {"@timestamp": {"gte": "2026-02-02T06:00:00Z"}}},
        ],
        "must_not": [{"terms": {"event.action": ["DeleteTrail"]}}],
    }
}


def test_spark_rows_equal_duckdb_rows(events, tmp_path: Path) -> None:
    from trailspike.features.bucket_spark import (
        compute_features_spark,
        export_events,
        local_session,
    )

    request = FeatureRequest("j", 3600, DETECTORS, parse_query(QUERY))
    start, end = T0, T0 + timedelta(days=3)
    expected = compute_features(events, request, start, end)
    expected = expected.sort_by([(k, "ascending") for k in SORT_KEYS])
    parquet = export_events(events, tmp_path / "events.parquet")
    spark = local_session()
    try:
        got = compute_features_spark(spark, parquet, request, start, end)
    finally:
        spark.stop()
    assert expected.num_rows > 200
    assert got.schema == expected.schema
    assert got.to_pylist() == expected.to_pylist()
    # Read by wording, the per-request variants of a message count once.
    raw = {r["bucket_start"]: r["value"] for r in expected.to_pylist() if r["detector_index"] == 0}
    worded = [r for r in expected.to_pylist() if r["detector_index"] == 6]
    assert worded and all(r["value"] <= raw[r["bucket_start"]] for r in worded)
    assert sum(r["value"] for r in worded) < 0.8 * sum(raw.values())
