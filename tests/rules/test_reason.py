"""The reason and details: built from the bucket's events with the job's filter and entity."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
from rules_helpers import CI_ARN, add_error_burst, add_event, spike_record

from trailspike.rules.anomaly import AnomalyRecord, fetch_record
from trailspike.rules.inline_tests import insert_records
from trailspike.rules.jobinfo import JobInfo, load_job_info
from trailspike.rules.reason import explain, render_sql

T0 = datetime(2026, 3, 2, 10, 0)


def _record(con: duckdb.DuckDBPyConnection, row: dict[str, object]) -> AnomalyRecord:
    insert_records(con, [row])
    record = fetch_record(con, str(row["record_id"]))
    assert record is not None
    return record


def _rare_user_row(action: str, user: str, **fields: object) -> dict[str, object]:
    """A rare_method_for_a_username record row for the bucket at T0."""
    return {
        "job_id": "rare_method_for_a_username",
        "timestamp": T0,
        "bucket_span": 3600,
        "function": "rare",
        "by_field_name": "event.action",
        "by_field_value": action,
        "partition_field_name": "user.name",
        "partition_field_value": user,
        "record_score": 78.0,
        "probability": 1e-5,
        **fields,
    }


def test_events_outside_bucket_or_filter_are_ignored(store: duckdb.DuckDBPyConnection) -> None:
    add_error_burst(store, T0)
    add_event(
        store, T0 + timedelta(minutes=15), error_message="next bucket", user_identity_arn=CI_ARN
    )
    add_event(
        store,
        T0 + timedelta(minutes=3),
        error_message="other dataset",
        user_identity_arn=CI_ARN,
        doc={"event": {"dataset": "aws.s3access", "module": "aws"}},
    )
    add_event(store, T0 + timedelta(minutes=4), event_action="NoError", user_identity_arn=CI_ARN)
    record = _record(store, spike_record(T0, 80.0))
    reason, details = explain(store, record, load_job_info("high_distinct_count_error_message"))
    assert details["event_count"] == 37 and details["distinct_values"] == 37
    assert "note" not in details
    assert reason.startswith("37 distinct error messages in 15 min (typical 3); 31 of them from")


def test_distinct_messages_are_counted_as_the_job_counts_them(
    store: duckdb.DuckDBPyConnection,
) -> None:
    # The spike job reads messages by their wording: EC2's fresh token per retry counts once.
    for i in range(30):
        add_event(
            store,
            T0 + timedelta(seconds=20 * i),
            error_message="You are not authorized to perform this operation. "
            f"Encoded authorization failure message: token{i}",
            user_identity_arn=CI_ARN,
        )
    add_event(store, T0 + timedelta(minutes=12), error_message="Rate exceeded")
    record = _record(store, spike_record(T0, 80.0, actual=2.0))
    job = load_job_info("high_distinct_count_error_message")
    assert job is not None and job.wording_fields == ("aws.cloudtrail.error_message",)
    reason, details = explain(store, record, job)
    assert details["event_count"] == 31 and details["distinct_values"] == 2
    assert details["principals"][0]["distinct"] == 1
    assert details["distinct_raw_values"] == 31
    assert reason.startswith(
        "2 distinct error messages in 15 min (typical 3; 31 counting each request's own ids)"
    )
    _, raw = explain(store, record, JobInfo(job.job_id, 900, job.terms, job.exists))
    assert raw["distinct_values"] == 31 and "distinct_raw_values" not in raw


def test_term_filter_falls_back_when_documents_lack_it(store: duckdb.DuckDBPyConnection) -> None:
    for i in range(3):
        add_event(store, T0 + timedelta(minutes=i), error_message=f"m{i}", doc={"x": 1})
    record = _record(store, spike_record(T0, 80.0, actual=3.0))
    _, details = explain(store, record, load_job_info("high_distinct_count_error_message"))
    assert details["event_count"] == 3 and "term filter" in details["note"]


def test_rare_reason_uses_partition_and_by_values(store: duckdb.DuckDBPyConnection) -> None:
    evil = "Mos'cow\"; DROP TABLE events; --"
    add_event(
        store,
        T0 + timedelta(minutes=5),
        event_action="CreateAccessKey",
        source_geo_city_name=evil,
        user_identity_arn=CI_ARN,
        source_ip="203.0.113.7",
        source_geo_country_iso_code="RU",
    )
    add_event(
        store,
        T0 + timedelta(minutes=6),
        event_action="CreateAccessKey",
        source_geo_city_name="Dublin",
        user_identity_arn=CI_ARN,
    )
    row = {
        "record_id": "city-1",
        "job_id": "rare_method_for_a_city",
        "timestamp": T0,
        "bucket_span": 3600,
        "function": "rare",
        "by_field_name": "event.action",
        "by_field_value": "CreateAccessKey",
        "partition_field_name": "source.geo.city_name",
        "partition_field_value": evil,
        "record_score": 78.0,
        "probability": 1e-5,
    }
    record = _record(store, row)
    reason, details = explain(store, record, JobInfo("rare_method_for_a_city", 3600))
    assert details["event_count"] == 1
    assert reason.startswith("rare event.action CreateAccessKey for city name Mos'cow")
    assert f"from {CI_ARN} at 203.0.113.7" in reason
    shown = details["source_events"]["duckdb_sql"]
    assert "'Mos''cow\"; DROP TABLE events; --'" in shown
    assert store.execute("SELECT count(*) FROM events").fetchone() == (2,)


def test_render_sql_quotes_every_value() -> None:
    from trailspike.rules.reason import EventFilter

    flt = EventFilter(["a = ?", "b = ?"], ["x'y", 3])
    assert (
        render_sql("SELECT 1 WHERE a = ? AND b = ?", flt) == "SELECT 1 WHERE a = 'x''y' AND b = '3'"
    )


def test_rare_reason_says_when_a_burst_of_new_methods_made_it_anomalous(
    store: duckdb.DuckDBPyConnection,
) -> None:
    add_event(store, T0 + timedelta(minutes=5), event_action="ListKeys", user_identity_arn=CI_ARN)
    base = _rare_user_row("ListKeys", "erin", record_score=88.0, probability=1e-6)
    burst = {"new_categories": 4, "burst_probability": 1e-6, "own_probability": 3e-4}
    lifted = _record(
        store, {**base, "record_id": "b1", "explanation": json.dumps({"novelty_burst": burst})}
    )
    reason, _ = explain(store, lifted, JobInfo("rare_method_for_a_username", 3600))
    assert "(one of 4 event.action values new to this user.name)" in reason
    # Its own probability was already the smaller one: the burst is not the reason.
    alone = {**burst, "burst_probability": 1e-3}
    plain = _record(
        store, {**base, "record_id": "b2", "explanation": json.dumps({"novelty_burst": alone})}
    )
    reason, _ = explain(store, plain, JobInfo("rare_method_for_a_username", 3600))
    assert "new to this" not in reason


def test_a_flood_spread_over_many_principals_is_described_as_spread(
    store: duckdb.DuckDBPyConnection,
) -> None:
    # 6,000 denials for different objects from 300 principals at many addresses (a fleet, or
    # credential stuffing). Before: "20 of them from <one user>" and the top template counted
    # in a sample of 5,000 messages, each object key its own template.
    store.execute(
        "INSERT INTO events (event_id, ts, doc, ingested_at, error_message, error_code, "
        "user_identity_arn, source_ip) "
        "SELECT 'flood-' || i, ? + to_seconds(i % 800), ?, now(), "
        "'Access Denied for object obj-' || md5(CAST(i AS VARCHAR))[:12], 'AccessDenied', "
        "'arn:aws:iam::123456789012:user/u' || (i % 300), "
        "'198.51.' || (i % 200) || '.' || (i % 250 + 1) FROM range(6000) t(i)",
        [T0, json.dumps({"event": {"dataset": "aws.cloudtrail", "module": "aws"}})],
    )
    record = _record(store, spike_record(T0, 90.0, actual=6000.0))
    reason, details = explain(store, record, load_job_info("high_distinct_count_error_message"))
    top = details["top_error_templates"][0]
    # Every key but the few md5 prefixes of digits only (those read as a number, "obj-<n>").
    assert top["template"] == "Access Denied for object obj-<hex>" and top["messages"] > 5900
    assert "; spread over 300 principals and 1,000 source addresses (at most 20 from " in reason
    assert f"'Access Denied for object obj-<hex>' ({top['messages']:,} messages)" in reason


def test_a_record_whose_events_were_pruned_says_so_instead_of_zero(
    store: duckdb.DuckDBPyConnection,
) -> None:
    add_event(store, T0 + timedelta(days=10), event_action="ListBuckets", user_identity_arn=CI_ARN)
    rare = _rare_user_row("CreateAccessKey", "alice", record_id="user-1")
    reason, details = explain(
        store, _record(store, rare), JobInfo("rare_method_for_a_username", 3600)
    )
    assert "alice: events no longer stored in 60 min" in reason and "0 events" not in reason
    assert details["events_pruned"] is True
    assert details["note"].startswith("the bucket's source events are no longer stored (the store")
    spike = _record(store, spike_record(T0, 80.0))
    reason, details = explain(store, spike, load_job_info(spike.job_id))
    assert "; its source events are no longer stored; record score 80" in reason
    # Events that exist after the bucket but none in it is not pruning: no such words.
    add_event(store, T0 - timedelta(days=1), event_action="ListBuckets")
    reason, details = explain(store, _record(store, {**rare, "record_id": "user-2"}), None)
    assert "0 events" in reason and "events_pruned" not in details
