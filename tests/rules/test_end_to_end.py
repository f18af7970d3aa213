"""Issue 4's done-criterion end to end: CloudTrail files with an injected error burst are ingested,
the spike job runs, and `trailspike rules backfill` raises the spike alert once, with its reason;
a second backfill raises nothing new."""

from __future__ import annotations

import gzip
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from trailspike.cli import cli
from trailspike.store.db import open_store

SPIKE_RULE = "78d3d8d9-b476-451d-a9e0-7a5addd70670"
ACCOUNT = "111122223333"
ATTACKER = f"arn:aws:iam::{ACCOUNT}:user/build-bot"
START = datetime(2026, 1, 5)
BURST = START + timedelta(days=8, hours=3, minutes=2)
MESSAGES = [
    "Rate exceeded",
    "The specified bucket does not exist",
    "Access Denied",
    "Request has expired",
    "The security token included in the request is invalid",
]


def _record(ts: datetime, n: int, **kw: Any) -> dict[str, Any]:
    user = kw.pop("user", "alice")
    record = {
        "eventVersion": "1.08",
        "eventTime": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": kw.pop("source", "s3.amazonaws.com"),
        "eventName": kw.pop("action", "GetObject"),
        "awsRegion": "eu-west-1",
        "sourceIPAddress": kw.pop("ip", "198.51.100.20"),
        "userAgent": "aws-cli/2.15.0",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": f"AIDA{user.upper()}",
            "arn": user if user.startswith("arn:") else f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "userName": user.rsplit("/", 1)[-1],
        },
        "eventID": f"00000000-0000-4000-8000-{n:012d}",
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }
    record.update(kw)
    return record


def _write_corpus(folder: Path) -> None:
    rng = random.Random(11)
    n = 0
    for day in range(9):
        records = []
        for slot in range(96):
            at = START + timedelta(days=day, minutes=15 * slot)
            for _ in range(rng.randint(3, 8)):
                n += 1
                records.append(
                    _record(
                        at + timedelta(seconds=rng.randint(0, 899)),
                        n,
                        user=rng.choice(["alice", "bob", "carol", "deploy", "etl", "ops"]),
                        errorCode="AccessDenied",
                        errorMessage=rng.choice(MESSAGES[: rng.randint(1, 5)]),
                    )
                )
            for _ in range(6):
                n += 1
                records.append(_record(at + timedelta(seconds=rng.randint(0, 899)), n))
        if day == 8:  # the injected burst: 40 different denials by one principal in 15 minutes
            for k in range(40):
                n += 1
                records.append(
                    _record(
                        BURST + timedelta(seconds=10 * k),
                        n,
                        user=ATTACKER,
                        source="iam.amazonaws.com",
                        action=f"ListRolePolicies{k}",
                        ip="175.16.199.7",
                        errorCode="AccessDenied",
                        errorMessage=f"User: {ATTACKER} is not authorized to perform: "
                        f"iam:ListRolePolicies on resource: role role-{k}",
                    )
                )
        path = folder / f"{ACCOUNT}_CloudTrail_eu-west-1_202601{5 + day:02d}.json.gz"
        path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


def test_backfill_raises_the_injected_spike_once(tmp_path: Path) -> None:
    pytest.importorskip("trailspike.jobs.runner")
    from trailspike.core.settings import load_settings
    from trailspike.ingest.pipeline import ingest
    from trailspike.jobs.runner import run_jobs

    corpus = tmp_path / "AWSLogs"
    corpus.mkdir()
    _write_corpus(corpus)
    db = tmp_path / "store.duckdb"
    settings = load_settings({"db": str(db)}, config_path=tmp_path / "none.toml", environ={})
    con = open_store(db)
    ingest(con, [str(corpus)], settings)
    (summary,) = run_jobs(
        con, ["high_distinct_count_error_message"], now=datetime(2027, 1, 1), settings=settings
    )
    assert summary.status == "ran"
    con.close()

    args = ["rules", "backfill", "--db", str(db), "--rule", SPIKE_RULE,
            "--start", "2026-01-13T00:00", "--end", "2026-01-14T00:00"]  # fmt: skip
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    # 97 execution times; only those whose window holds the record (and both ends) run.
    assert "7 executions (90 with no anomaly in their window skipped), 1 new alerts" in first.output
    assert "has not run" not in first.output
    again = CliRunner().invoke(cli, args)
    assert "7 executions (90 with no anomaly in their window skipped), 0 new alerts" in again.output

    con = open_store(db, read_only=True)
    rows = con.execute("SELECT original_time, doc FROM alerts").fetchall()
    con.close()
    assert len(rows) == 1
    original_time, text = rows[0]
    assert original_time == datetime(2026, 1, 13, 3, 0)
    doc = json.loads(text)
    reason = doc["kibana.alert.reason"]
    assert reason.startswith("Spike in AWS Error Messages: ")
    # The burst shows in the bucket's first 10 minutes: an early result raises the alert, and
    # the final record of the same anomaly raises nothing more (one alert).
    assert " distinct error messages in the first 10 min of 15 min (early result) " in reason
    assert f"40 of them from {ATTACKER} at 175.16.199.7" in reason
    details = doc["trailspike"]
    assert details["early_result"] is True
    assert details["data_end"] == "2026-01-13T03:10:00.000Z"
    assert details["principals"][0]["user_identity_arn"] == ATTACKER
    assert details["top_error_codes"][0]["error_code"] == "AccessDenied"
    assert details["top_error_templates"][0]["messages"] == 40
    assert doc["kibana.alert.rule.rule_id"] == SPIKE_RULE
    assert doc["record_score"] >= 50 and doc["kibana.alert.severity"] == "low"
    assert ATTACKER in doc["aws"]["cloudtrail"]["user_identity"]["arn"]
