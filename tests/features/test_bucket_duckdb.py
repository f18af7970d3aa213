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


def test_queries_inside_chunk_events_read_the_chunk_copy_with_the_same_results(events) -> None:
    from trailspike.features.bucket_duckdb import CHUNK_VIEW, bucket_event_counts, chunk_events
    from trailspike.features.evidence import bucket_slice, record_evidence

    rare = DetectorFeature(
        0, "rare", by_field_name="event.action", partition_field_name="user.name"
    )
    where = parse_query({"bool": {"must_not": {"term": {"user.name": "u2"}}}})
    req = FeatureRequest("j", 900, (rare,), where)
    end = T0 + timedelta(hours=1)
    fields = ("source.ip",)
    wanted = [(T0, ("u1", "A", ""), None, False), (T0, ("u1", "A", ""), None, True)]

    def everything(start: datetime, stop: datetime) -> list:
        return [
            compute_features(events, req, start, stop).to_pylist(),
            bucket_event_counts(events, req, start, stop),
            record_evidence(events, req, rare, fields, wanted, 0.0),
            bucket_slice(events, req, rare, T0, fields).to_pylist(),
        ]

    plain = everything(T0, end)
    with chunk_events(events, req, T0, end, fields):
        assert everything(T0, end) == plain
        # Read from the copy: an event added to the table now is not seen inside the chunk
        # (the runner holds one transaction, in which the table cannot change either) ...
        events.execute(
            "INSERT INTO events (event_id, ts, event_action, user_name, doc, ingested_at) "
            "VALUES ('late', ?, 'A', 'u1', '{}', now())",
            [T0 + timedelta(minutes=5)],
        )
        assert everything(T0, end) == plain
        # ... while a range beyond the chunk, or another request, reads the table.
        assert (
            bucket_event_counts(events, req, T0, end + timedelta(minutes=15))[T0]
            == plain[1][T0] + 1
        )
        other = FeatureRequest("k", 900, (rare,))
        assert bucket_event_counts(events, other, T0, end)[T0] == 5  # four, and the late one
    assert everything(T0, end) != plain  # the late event counts again
    assert events.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [CHUNK_VIEW]
    ).fetchall() == [(0,)]


def test_a_chunk_past_the_copy_limit_is_read_from_the_table(events, monkeypatch) -> None:
    """With the event count unknown the copy stops one row past CHUNK_MAX_EVENTS and is
    dropped: the queries inside read the table, with the same results."""
    from trailspike.features import bucket_duckdb
    from trailspike.features.bucket_duckdb import CHUNK_VIEW, bucket_event_counts, chunk_events

    det = DetectorFeature(0, "count")
    req = FeatureRequest("j", 900, (det,))
    end = T0 + timedelta(hours=1)
    plain = bucket_event_counts(events, req, T0, end)
    views = "SELECT count(*) FROM duckdb_views() WHERE view_name = ?"
    monkeypatch.setattr(bucket_duckdb, "CHUNK_MAX_EVENTS", sum(plain.values()) - 1)
    with chunk_events(events, req, T0, end):
        assert events.execute(views, [CHUNK_VIEW]).fetchall() == [(0,)]
        assert bucket_event_counts(events, req, T0, end) == plain
    monkeypatch.setattr(bucket_duckdb, "CHUNK_MAX_EVENTS", sum(plain.values()))
    with chunk_events(events, req, T0, end):
        assert events.execute(views, [CHUNK_VIEW]).fetchall() == [(1,)]
        assert bucket_event_counts(events, req, T0, end) == plain


def test_chunk_events_copy_nothing_for_a_field_read_from_the_document(events) -> None:
    from trailspike.features.bucket_duckdb import bucket_event_counts, chunk_columns, chunk_events

    det = DetectorFeature(0, "count", partition_field_name="aws.cloudtrail.flattened.x")
    req = FeatureRequest("j", 900, (det,))
    assert chunk_columns(req) is None
    with chunk_events(events, req, T0, T0 + timedelta(hours=1)):
        assert bucket_event_counts(events, req, T0, T0 + timedelta(hours=1)) == {
            T0: 4,
            T0 + timedelta(minutes=15): 1,
        }


def test_features_and_counts_equal_the_two_statements(events) -> None:
    """The counts folded into a counting detector's statement, for requests whose events miss
    split fields (left out of the rows, counted in the buckets), with ``use_null``, with other
    detectors beside it, with a datafeed query, and without a counting detector."""
    from trailspike.features.bucket_duckdb import bucket_event_counts, features_and_counts

    rare = DetectorFeature(
        0, "rare", by_field_name="event.action", partition_field_name="user.name"
    )
    by_ip = DetectorFeature(1, "rare", by_field_name="source.ip")
    nulls = DetectorFeature(0, "count", partition_field_name="user.name", use_null=True)
    distinct = DetectorFeature(0, "high_distinct_count", "aws.cloudtrail.error_message")
    metric = DetectorFeature(1, "mean", "source.as.number", partition_field_name="user.name")
    where = parse_query({"bool": {"must_not": {"term": {"user.name": "u2"}}}})
    requests = [
        FeatureRequest("j", 900, (rare,)),
        FeatureRequest("j", 900, (rare, by_ip)),
        FeatureRequest("j", 3600, (rare,), where),
        FeatureRequest("j", 900, (nulls, metric)),
        FeatureRequest("j", 900, (distinct, metric)),
    ]
    start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=2)
    for req in requests:
        table, counts = features_and_counts(events, req, start, end)
        assert table.equals(compute_features(events, req, start, end))
        assert counts == bucket_event_counts(events, req, start, end)
    # The fixture has an event without a user in the first bucket: counted, not in a row.
    table, counts = features_and_counts(events, requests[0], start, end)
    assert counts[T0] == sum(r["value"] for r in table.to_pylist() if r["bucket_start"] == T0) + 1
