"""Small CloudTrail records and files for the ingest tests (written by the tests themselves)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson


def record(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A well-formed CloudTrail record; ``n`` varies the event id and time."""
    base: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::123456789012:user/alice",
            "accountId": "123456789012",
            "accessKeyId": "AKIAEXAMPLE",
            "userName": "alice",
        },
        "eventTime": f"2026-01-01T10:{n % 60:02d}:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "89.160.20.156",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 botocore/2.0",
        "requestParameters": {"bucketName": "logs", "key": f"k{n}"},
        "responseElements": None,
        "eventID": f"00000000-0000-4000-8000-{n:012d}",
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012",
    }
    base.update(overrides)
    return base


def write_s3_file(path: Path, records: list[dict[str, Any]], gz: bool = True) -> Path:
    """An S3 delivery object ``{"Records": [...]}`` (gzip by default)."""
    data = orjson.dumps({"Records": records})
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_lines(path: Path, values: list[Any]) -> Path:
    """JSON lines; str values are written as they are (for bad lines)."""
    lines = [v if isinstance(v, str) else orjson.dumps(v).decode() for v in values]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_odd_files(folder: Path) -> None:
    """A delivery file with a duplicate, a missing id, IPv6, a long value and a bad time, and a
    JSON-lines file with bad JSON and a wrong type: what every ingest path must agree on."""
    write_s3_file(
        folder / "odd.json.gz",
        [
            record(1),
            record(1),
            record(2, eventID=None),
            record(3, sourceIPAddress="2001:db8::1"),
            record(4, requestParameters={"k": "é" * 3000}),
            record(5, eventTime="bad"),
        ],
    )
    write_lines(folder / "lines.jsonl", [record(6), "{not json", record(7, userIdentity=3)])
