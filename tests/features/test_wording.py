"""An error message's wording: per-request parts masked, alike in Python and DuckDB."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from trailspike.features.bucket_duckdb import compute_features
from trailspike.features.contract import DetectorFeature, FeatureRequest
from trailspike.features.wording import wording, wording_sql

T0 = datetime(2026, 3, 2, 10, 0)
SAMPLES = [
    "You are not authorized to perform this operation. User: arn:aws:sts::111122223333:"
    "assumed-role/ci/i-0abc is not authorized to perform: ec2:RunInstances on resource: "
    "arn:aws:ec2:eu-west-1:111122223333:instance/* because no identity-based policy allows "
    "the ec2:RunInstances action. Encoded authorization failure message: Zm9v-YmFy_9q",
    "Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied; "
    "Request ID: 4442587FB7D0A2F9; S3 Extended Request ID: a+b/c=)",
    "RequestId: 1b3e5c7a-9d2f-4e6b-8a1c-3f5e7d9b1a2c failed",
    "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: kms:DescribeKey on "
    "resource: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "Signature expired: 20240101T010203Z is now earlier than 20240101T011203Z "
    "(20240101T011703Z - 5 min.)",
    "Token expired at 2024-06-01T12:00:00.123Z",
    "User: arn:aws:sts::123456789012:assumed-role/role/botocore-session-1690000000 is not "
    "authorized to perform: sts:GetCallerIdentity",
    "User: arn:aws:sts::123456789012:assumed-role/r/aws-go-sdk-1722511821294449000 x",
    "The user with name bob cannot be found.",
    "User: arn:aws:sts::123456789012:assumed-role/orders-task/0123456789abcdef0123456789abcdef "
    "is not authorized to perform: ecs:StopTask on resource: arn:aws:ecs:eu-west-1:123456789012:"
    "task/prod/fedcba9876543210fedcba9876543210 because no identity-based policy allows it",
    "Ünïcode message with 'quotes' and \"doubles\" and 1234567890123",
    "",
]


def test_per_request_parts_are_masked_and_the_rest_is_kept() -> None:
    assert wording(SAMPLES[0]).endswith("Encoded authorization failure message: <encoded>")
    assert "ec2:RunInstances" in wording(SAMPLES[0]) and "111122223333" in wording(SAMPLES[0])
    assert "4442587FB7D0A2F9" not in wording(SAMPLES[1])
    assert wording(SAMPLES[2]) == "Request ID: <id> failed"
    assert wording(SAMPLES[3]) == SAMPLES[3]  # a KMS key's id is a resource, not a request
    assert wording(SAMPLES[4]) == (
        "Signature expired: <time> is now earlier than <time> (<time> - 5 min.)"
    )
    assert wording(SAMPLES[5]) == "Token expired at <time>"
    assert "botocore-session-<n>" in wording(SAMPLES[6])
    assert wording(SAMPLES[7]).endswith("aws-go-sdk-<n> x")
    assert wording(SAMPLES[8]) == SAMPLES[8]
    # An ECS caller's task id is masked; a task named as the resource is kept.
    assert "orders-task/<task> is not authorized" in wording(SAMPLES[9])
    assert "task/prod/fedcba9876543210fedcba9876543210 because" in wording(SAMPLES[9])


@pytest.mark.parametrize("message", SAMPLES)
def test_duckdb_reads_the_wording_python_does(message: str) -> None:
    con = duckdb.connect()
    expr, params = wording_sql("CAST(? AS VARCHAR)", [message])
    assert con.execute(f"SELECT {expr}", params).fetchone() == (wording(message),)


def test_a_retried_denial_is_one_message_by_wording(store: duckdb.DuckDBPyConnection) -> None:
    # An automation retries one denied EC2 call; EC2 encodes a new token into every message.
    store.executemany(
        "INSERT INTO events (event_id, ts, error_message, doc, ingested_at) "
        "VALUES (?, ?, ?, '{}', now())",
        [
            [
                f"e{n}",
                T0 + timedelta(seconds=4 * n),
                "You are not authorized to perform this operation. "
                f"Encoded authorization failure message: tok{n:04d}x",
            ]
            for n in range(200)
        ],
    )
    dets = (
        DetectorFeature(0, "high_distinct_count", "aws.cloudtrail.error_message"),
        DetectorFeature(1, "high_distinct_count", "aws.cloudtrail.error_message", wording=True),
    )
    rows = compute_features(store, FeatureRequest("j", 900, dets), T0, T0 + timedelta(hours=1))
    values = [(r["detector_index"], r["value"]) for r in rows.to_pylist()]
    assert values == [(0, 200.0), (1, 1.0)]
