"""The explorer's queries over the test world: windows, partitions, swimlane, source events."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from webworld import JOB, PART_JOB, SPIKES, XSS_MESSAGE, bucket_time, record_id

from trailspike.store.db import open_store
from trailspike.web import anomalies


@pytest.fixture(scope="module")
def con(world) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_store(world[0], read_only=True)
    yield connection
    connection.close()


def test_time_bounds_and_records_in_a_window(con: duckdb.DuckDBPyConnection) -> None:
    bounds = anomalies.job_time_bounds(con, JOB)
    assert bounds["first"] == bucket_time(0) and bounds["span"] == 900
    records = anomalies.anomaly_records(con, JOB, bucket_time(0), bucket_time(288), min_score=3)
    assert [r["record_score"] for r in records] == sorted(
        (s for s, _a in SPIKES.values() if s >= 3), reverse=True
    )
    late = anomalies.anomaly_records(con, JOB, bucket_time(201), bucket_time(288))
    assert [r["record_id"] for r in late] == [record_id(JOB, 240)]


def test_partitions_of_a_rare_job_come_from_records(con: duckdb.DuckDBPyConnection) -> None:
    parts = anomalies.partitions(con, PART_JOB)
    assert parts["name"] == "source.geo.city_name"
    assert sorted(parts["values"]) == ["Lagos", "Seattle"] and parts["plotted"] is False
    assert anomalies.partitions(con, JOB) == {"name": None, "values": [], "plotted": False}


def test_source_events_of_a_distinct_count_record(con: duckdb.DuckDBPyConnection) -> None:
    rec = anomalies.record(con, record_id(JOB, 240))
    assert rec is not None
    found = anomalies.source_events(con, rec)
    assert found["total"] == 14 and len(found["rows"]) == 14
    assert len(found["values"]) == 14  # 14 distinct error messages, as the record's actual
    assert XSS_MESSAGE in {v["value"] for v in found["values"]}


def test_source_events_follow_partition_and_by_values(con: duckdb.DuckDBPyConnection) -> None:
    rec = anomalies.record(con, record_id(PART_JOB, 230))
    assert rec is not None
    found = anomalies.source_events(con, rec)
    assert [e["event_id"] for e in found["rows"]] == ["evt-lagos"]
    assert found["values"] == []  # rare detectors have no field


def test_swimlane_keeps_the_top_values(con: duckdb.DuckDBPyConnection) -> None:
    rows = anomalies.influencer_swimlane(con, JOB, bucket_time(0), bucket_time(288), top=2)
    assert {(r["field"], r["value"]) for r in rows} == {
        ("aws.cloudtrail.user_identity.arn", "arn:aws:iam::123456789012:user/mallory"),
        ("source.ip", "203.0.113.66"),
    }
