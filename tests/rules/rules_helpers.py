"""Helpers for rules, CLI and service tests: anomaly records and source events in a store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import duckdb

from trailspike.rules.inline_tests import insert_records

SPIKE_JOB = "high_distinct_count_error_message"
SPIKE_RULE = "78d3d8d9-b476-451d-a9e0-7a5addd70670"
CI_ARN = "arn:aws:iam::123456789012:user/ci-deploy"


def spike_record(ts: datetime, score: float, **extra: Any) -> dict[str, Any]:
    """A high_distinct_count record for the bucket starting at ``ts``."""
    row: dict[str, Any] = {
        "record_id": f"{SPIKE_JOB}_record_{int(ts.timestamp())}_900_0_0_0",
        "job_id": SPIKE_JOB,
        "timestamp": ts,
        "bucket_span": 900,
        "function": "high_distinct_count",
        "function_description": "distinct_count",
        "field_name": "aws.cloudtrail.error_message",
        "probability": 1e-6,
        "record_score": score,
        "typical": 3.0,
        "actual": 37.0,
        "influencers": [
            {
                "influencer_field_name": "aws.cloudtrail.user_identity.arn",
                "influencer_field_values": [CI_ARN],
            },
            {"influencer_field_name": "source.ip", "influencer_field_values": ["203.0.113.7"]},
        ],
    }
    row.update(extra)
    return row


def add_records(con: duckdb.DuckDBPyConnection, *rows: dict[str, Any]) -> None:
    insert_records(con, rows)


def add_event(con: duckdb.DuckDBPyConnection, ts: datetime, **cols: Any) -> None:
    """One events row; ``cols`` are events columns (error_message=…, user_identity_arn=…)."""
    event_id = cols.pop("event_id", f"ev-{ts.isoformat()}-{add_event.counter}")
    add_event.counter += 1
    doc = cols.pop("doc", {"event": {"dataset": "aws.cloudtrail", "module": "aws"}})
    names = ["event_id", "ts", "doc", "ingested_at", *cols]
    values = [event_id, ts, json.dumps(doc), ts, *cols.values()]
    marks = ", ".join("?" for _ in names)
    con.execute(f"INSERT INTO events ({', '.join(names)}) VALUES ({marks})", values)


add_event.counter = 0  # type: ignore[attr-defined]


def add_error_burst(con: duckdb.DuckDBPyConnection, bucket: datetime) -> None:
    """37 distinct error messages in one 15-min bucket: 31 from ci-deploy in Moscow, 6 others."""
    for i in range(31):
        add_event(
            con,
            bucket + timedelta(seconds=20 * i),
            error_message=f"User {CI_ARN} is not authorized to perform: iam:Action{i}",
            error_code="AccessDenied",
            event_action=f"Action{i}",
            event_provider="iam.amazonaws.com",
            user_identity_arn=CI_ARN,
            source_ip="203.0.113.7",
            source_geo_city_name="Moscow",
            source_geo_country_iso_code="RU",
        )
    for i in range(6):
        add_event(
            con,
            bucket + timedelta(minutes=1, seconds=30 * i),
            error_message=f"The bucket other-{i} does not exist",
            error_code="NoSuchBucket",
            event_action="GetObject",
            event_provider="s3.amazonaws.com",
            user_identity_arn="arn:aws:iam::123456789012:role/app",
            source_ip="198.51.100.9",
            source_geo_city_name="Dublin",
            source_geo_country_iso_code="IE",
        )
