"""A small store for the web tests: three days of results for two jobs, alerts, hostile text.

Rows are inserted straight into the contract tables (migrations 0001-0003), the way the job
runner and rule engine write them, so the UI is tested against the schema and not against
another part's code. Log text carries XSS payloads in every field the pages print.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

START = datetime(2026, 11, 1)
SPAN = 900
BUCKETS = 3 * 96
JOB = "high_distinct_count_error_message"
PART_JOB = "rare_method_for_a_city"
# rule ids of the shipped rules (Elastic's): Spike in AWS Error Messages, Unusual City …
RULE = "78d3d8d9-b476-451d-a9e0-7a5addd70670"
CITY_RULE = "809b70d3-e2c3-455e-af1b-2626a5a1a276"

XSS_MESSAGE = '<script>window.__pwned = "script"</script>Access denied'
XSS_IMG = "<img src=x onerror=\"window.__pwned='img'\">"
XSS_AGENT = "<img src=x onerror=\"window.__pwned='agent';alert(1)\"> aws-cli/2.15"
XSS_ARN = 'arn:aws:iam::123456789012:user/"><script>window.__pwned="arn"</script>'
ATTACKER_ARN = "arn:aws:iam::123456789012:user/mallory"
ATTACKER_IP = "203.0.113.66"

# bucket index -> (record score, actual distinct messages)
SPIKES = {240: (91.5, 14.0), 200: (62.0, 9.0), 150: (31.0, 6.0), 100: (8.0, 5.0), 60: (1.2, 4.0)}


def bucket_time(index: int) -> datetime:
    """Start of bucket ``index`` of the world."""
    return START + timedelta(seconds=SPAN * index)


def record_id(job: str, index: int, extra: str = "") -> str:
    """A record id in the runner's shape."""
    ms = int((bucket_time(index) - datetime(1970, 1, 1)).total_seconds() * 1000)
    return f"{job}_record_{ms}_{SPAN}_0_{extra or 'x'}"


def _typical(index: int) -> float:
    return 3.0 + 1.5 * math.sin(2 * math.pi * (index % 96) / 96)


def _insert_results(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    # Whole series are generated in SQL (range()) so building the world stays well under 1 s.
    series = (
        "SELECT i, ?::TIMESTAMP + to_seconds(i * ?) AS ts, "
        "3 + 1.5 * sin(2 * pi() * (i % 96) / 96) AS typical FROM range(?) t(i)"
    )
    con.execute(
        f"INSERT INTO buckets SELECT ?, ts, ?, 0, 0, 20 + i % 7, false FROM ({series})",
        [JOB, SPAN, START, SPAN, BUCKETS],
    )
    con.execute(
        "INSERT INTO model_plot SELECT ?, ts, 0, '', '', greatest(typical - 2.5, 0), typical, "
        f"typical + 2.5, round(typical + i % 3 - 1) FROM ({series})",
        [JOB, START, SPAN, BUCKETS],
    )
    con.execute(
        f"INSERT INTO buckets SELECT ?, ts, ?, 0, 0, 45, false FROM ({series})",
        [PART_JOB, SPAN, START, SPAN, BUCKETS],
    )
    for index, (score, actual) in SPIKES.items():
        con.execute(
            "UPDATE buckets SET anomaly_score = ?, initial_anomaly_score = ? "
            "WHERE job_id = ? AND timestamp = ?",
            [score, score, JOB, bucket_time(index)],
        )
        con.execute(
            "UPDATE model_plot SET actual = ? WHERE job_id = ? AND timestamp = ?",
            [actual, JOB, bucket_time(index)],
        )
    for index, (score, actual) in SPIKES.items():
        influencers = [
            {
                "influencer_field_name": "aws.cloudtrail.user_identity.arn",
                "influencer_field_values": [ATTACKER_ARN, XSS_ARN],
            },
            {"influencer_field_name": "source.ip", "influencer_field_values": [ATTACKER_IP]},
            {"influencer_field_name": "source.geo.city_name", "influencer_field_values": ["Lagos"]},
        ]
        _insert_record(con, JOB, index, score, actual, _typical(index), influencers, now)
        for field, value, weight in (
            ("aws.cloudtrail.user_identity.arn", ATTACKER_ARN, 1.0),
            ("aws.cloudtrail.user_identity.arn", XSS_ARN, 0.6),
            ("source.ip", ATTACKER_IP, 0.9),
            ("source.geo.city_name", "Lagos", 0.5),
        ):
            con.execute(
                "INSERT INTO influencers (job_id, timestamp, bucket_span, influencer_field_name, "
                "influencer_field_value, influencer_score, initial_influencer_score, probability) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [JOB, bucket_time(index), SPAN, field, value, score * weight, score * weight, 1e-4],
            )
    part_influencers = [
        {"influencer_field_name": "source.geo.city_name", "influencer_field_values": ["Lagos"]}
    ]
    # like the shipped rare_method_for_a_city: rare by event.action, partition by city, and
    # (as for every rare detector) no model plot
    for index, score, city in ((230, 77.0, "Lagos"), (10, 30.0, "Seattle")):
        _insert_record(
            con,
            PART_JOB,
            index,
            score,
            1.0,
            0.01,
            part_influencers,
            now,
            function="rare",
            field=None,
            partition=("source.geo.city_name", city),
            by=("event.action", "ConsoleLogin"),
        )


def _insert_record(
    con: duckdb.DuckDBPyConnection,
    job: str,
    index: int,
    score: float,
    actual: float,
    typical: float,
    influencers: list[dict[str, Any]],
    now: datetime,
    function: str = "high_distinct_count",
    field: str | None = "aws.cloudtrail.error_message",
    partition: tuple[str, str] | None = None,
    by: tuple[str, str] | None = None,
) -> None:
    con.execute(
        "INSERT INTO records (record_id, job_id, timestamp, bucket_span, detector_index, "
        "function, function_description, field_name, by_field_name, by_field_value, "
        "partition_field_name, partition_field_value, probability, record_score, "
        "initial_record_score, typical, actual, multi_bucket_impact, influencers, created_at) "
        "VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            record_id(job, index),
            job,
            bucket_time(index),
            SPAN,
            function,
            function.replace("high_", ""),
            field,
            by[0] if by else None,
            by[1] if by else None,
            partition[0] if partition else None,
            partition[1] if partition else None,
            10 ** (-score / 10),
            score,
            score,
            typical,
            actual,
            -2.0,
            json.dumps(influencers),
            now,
        ],
    )


def _insert_events(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    spike = bucket_time(240)
    messages = [XSS_MESSAGE, XSS_IMG] + [
        f"User is not authorized to perform action {n}" for n in range(12)
    ]
    for n, message in enumerate(messages):
        agent = XSS_AGENT if n < 2 else "aws-cli/2.15.0 Python/3.11"
        arn = XSS_ARN if n == 1 else ATTACKER_ARN
        _insert_event(con, f"evt-{n}", spike + timedelta(seconds=30 * n), message, agent, arn, now)
    # a quiet bucket's events and an event of the partitioned job's anomaly
    quiet = bucket_time(10) + timedelta(minutes=1)
    _insert_event(
        con,
        "evt-quiet",
        quiet,
        "Throttling",
        "console",
        ATTACKER_ARN,
        now,
        action="ConsoleLogin",
        city="Seattle",
    )
    _insert_event(
        con,
        "evt-lagos",
        bucket_time(230) + timedelta(minutes=3),
        None,
        "console",
        ATTACKER_ARN,
        now,
        action="ConsoleLogin",
        city="Lagos",
    )


def _insert_event(
    con: duckdb.DuckDBPyConnection,
    event_id: str,
    ts: datetime,
    message: str | None,
    agent: str,
    arn: str,
    now: datetime,
    action: str = "ListBuckets",
    city: str = "Lagos",
) -> None:
    doc = {"event": {"id": event_id, "action": action}, "aws": {"cloudtrail": {}}}
    con.execute(
        "INSERT INTO events (event_id, ts, event_action, event_provider, event_outcome, "
        "error_code, error_message, user_identity_arn, source_ip, source_geo_city_name, "
        "source_geo_country_iso_code, user_agent, doc, source_file, ingested_at) "
        "VALUES (?, ?, ?, 's3.amazonaws.com', 'failure', 'AccessDenied', ?, ?, ?, ?, 'NG', ?, "
        "?, 'AWSLogs/x.json.gz', ?)",
        [event_id, ts, action, message, arn, ATTACKER_IP, city, agent, json.dumps(doc), now],
    )


def _insert_alerts(con: duckdb.DuckDBPyConnection, now: datetime) -> list[str]:
    ids = []
    for n, (job, index, score, status, reason) in enumerate(
        (
            (JOB, 240, 91.5, "open", f"error message spike by {XSS_ARN} {XSS_IMG}"),
            (JOB, 200, 62.0, "open", f"error message spike by {ATTACKER_ARN}"),
            (PART_JOB, 230, 77.0, "acknowledged", "rare city Lagos for ConsoleLogin"),
        )
    ):
        uuid = f"{n:02d}" + "a" * 62
        ids.append(uuid)
        doc = {"kibana.alert.uuid": uuid, "kibana.alert.reason": reason, "note": XSS_MESSAGE}
        con.execute(
            "INSERT INTO alerts (alert_uuid, rule_id, rule_name, record_id, job_id, original_time, "
            "created_at, severity, risk_score, record_score, reason, workflow_status, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'low', 21, ?, ?, ?, ?)",
            [
                uuid,
                RULE if job == JOB else CITY_RULE,
                "Spike in AWS Error Messages" if job == JOB else "Unusual City For an AWS Command",
                record_id(job, index),
                job,
                bucket_time(index),
                bucket_time(index + 2),
                score,
                reason,
                status,
                json.dumps(doc),
            ],
        )
    for k in range(3):
        executed = bucket_time(250 + k)
        con.execute(
            "INSERT INTO rule_executions VALUES (?, ?, ?, ?, ?, ?)",
            [
                RULE,
                executed,
                executed - timedelta(minutes=60),
                executed,
                1 - min(k, 1),
                json.dumps([f"job {JOB} is behind: results end {XSS_IMG}"]) if k == 2 else None,
            ],
        )
    return ids


def _insert_ingest(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    for n in range(2):
        con.execute(
            "INSERT INTO ingested_files VALUES (?, 1000, 'etag', 16, 16, 0, ?, true, ?)",
            [
                f"AWSLogs/123456789012/CloudTrail/file{n}.json.gz",
                1 if n else 0,
                now - timedelta(minutes=5 - n),
            ],
        )
    con.execute(
        "INSERT INTO quarantine (path, line, record_index, reason, snippet, quarantined_at) "
        "VALUES ('AWSLogs/123456789012/CloudTrail/file1.json.gz', 1, 3, 'eventTime missing', ?, ?)",
        [XSS_IMG, now],
    )


def _insert_exception(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'exception_items'"
    ).fetchone()
    if exists and exists[0]:
        entries = [
            {"field": "source.ip", "operator": "included", "type": "match", "value": "198.51.100.7"}
        ]
        con.execute(
            "INSERT INTO exception_items VALUES ('item-1', ?, 'deploy runner', ?, ?, ?)",
            [RULE, json.dumps(entries), f"retries of the deploy pipeline {XSS_IMG}", now],
        )


def _insert_service_state(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'service_state'"
    ).fetchone()
    if exists and exists[0]:
        for key, value in (
            ("cycles", "42"),
            ("first_started_at", "2026-11-01T00:05:00"),
            ("last_cycle_started_at", "2026-11-03T23:50:00"),
            ("last_cycle_finished_at", "2026-11-03T23:51:10"),
            ("last_cycle_errors", json.dumps([f"webhook output failed: {XSS_IMG}"])),
            ("last_prune_at", "2026-11-03T00:05:00"),
            ("last_prune", "deleted 1,234 events"),
            (
                "last_out_of_time",
                json.dumps({"at": "2026-11-03T22:00:00", "notes": [f"3 events dated {XSS_IMG}"]}),
            ),
        ):
            con.execute("INSERT INTO service_state VALUES (?, ?, ?)", [key, value, now])


def build_world(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Fill a migrated store; returns the alert uuids (open, open, acknowledged)."""
    now = bucket_time(BUCKETS)
    _insert_exception(con, now)
    _insert_service_state(con, now)
    _insert_results(con, now)
    _insert_events(con, now)
    _insert_ingest(con, now)
    return _insert_alerts(con, now)


def web_settings(db: Path, **extra: Any) -> dict[str, Any]:
    """Settings for a test app: no trailspike.toml, no environment."""
    from trailspike.core.settings import load_settings

    return load_settings({"db": str(db), **extra}, config_path=Path("/nonexistent"), environ={})
