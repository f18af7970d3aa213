"""Interim ``trailspike demo``: ingest real CloudTrail samples and show what was stored.

Reads ../shared/data/cloudtrail_samples when it is beside the repository, otherwise a small set
of generated S3-style files, into ``./trailspike-demo/demo.duckdb`` and prints counts by action
and error code and the quarantine. It must never fail on a fresh clone, so the store is rebuilt
each time. (The full demo replaces this command later.)
"""

from __future__ import annotations

import gzip
import random
from datetime import datetime, timedelta
from pathlib import Path

import click
import orjson

DEMO_DIR = Path("trailspike-demo")
SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cloudtrail_samples"
# Files beside the samples that are test metadata, not CloudTrail records.
_NOT_RECORDS = ("tests_index.jsonl",)


def sample_files() -> list[str]:
    """The real sample files beside the repository (empty when ../shared is absent)."""
    if not SAMPLES.is_dir():
        return []
    from trailspike.ingest.sources import DATA_SUFFIXES

    found = [
        p
        for p in SAMPLES.rglob("*")
        if p.is_file() and p.name.endswith(DATA_SUFFIXES) and p.name not in _NOT_RECORDS
    ]
    return [str(p) for p in sorted(found)]


def generate_samples(folder: Path, events: int = 300, seed: int = 7) -> list[str]:
    """Write a few small S3-style ``.json.gz`` files of synthetic CloudTrail records."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    actions = [
        ("s3.amazonaws.com", "GetObject"),
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("iam.amazonaws.com", "CreateUser"),
        ("sts.amazonaws.com", "AssumeRole"),
    ]
    errors = [None] * 8 + ["AccessDenied", "UnauthorizedOperation"]
    start = datetime(2026, 1, 1)
    paths = []
    for part in range(3):
        records = []
        for i in range(events // 3):
            source, name = rng.choice(actions)
            error = rng.choice(errors)
            record = {
                "eventVersion": "1.08",
                "userIdentity": {
                    "type": "IAMUser",
                    "userName": f"user{rng.randint(1, 5)}",
                    "arn": f"arn:aws:iam::123456789012:user/user{rng.randint(1, 5)}",
                    "accountId": "123456789012",
                },
                "eventTime": (start + timedelta(minutes=part * 100 + i)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "eventSource": source,
                "eventName": name,
                "awsRegion": "us-east-1",
                "sourceIPAddress": f"198.51.100.{rng.randint(1, 40)}",
                "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 botocore/2.0",
                "eventID": f"demo-{part}-{i}",
                "eventType": "AwsApiCall",
                "recipientAccountId": "123456789012",
            }
            if error:
                record["errorCode"] = error
                record["errorMessage"] = f"User is not authorized to perform {name}"
            records.append(record)
        path = folder / f"123456789012_CloudTrail_us-east-1_2026010{part + 1}T0000Z_demo.json.gz"
        path.write_bytes(gzip.compress(orjson.dumps({"Records": records})))
        paths.append(str(path))
    return paths


@click.command()
def demo() -> None:
    """Ingest the CloudTrail samples into ./trailspike-demo/demo.duckdb and show what was stored.

    \b
    Example:
      trailspike demo
    """
    from trailspike.core.settings import load_settings
    from trailspike.ingest.pipeline import ingest
    from trailspike.store.db import open_store

    DEMO_DIR.mkdir(exist_ok=True)
    db_path = DEMO_DIR / "demo.duckdb"
    for stale in (db_path, db_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    files = sample_files()
    if files:
        click.echo(f"Ingesting {len(files)} real sample files from {SAMPLES}")
    else:
        files = generate_samples(DEMO_DIR / "samples")
        click.echo(f"../shared not found: ingesting {len(files)} generated sample files")
    settings = load_settings({"db": str(db_path)})
    con = open_store(db_path)
    try:
        summary = ingest(con, files, settings)
        for note in summary.notes:
            click.echo(f"note: {note}")
        click.echo(summary.summary_line())
        _print_counts(con)
    finally:
        con.close()
    click.echo(f"\nStore: {db_path}  (try: trailspike quarantine --db {db_path} --summary)")


def _print_counts(con: object) -> None:
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    queries = (
        (
            "Top actions",
            "SELECT event_action, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        ),
        (
            "Error codes",
            "SELECT error_code, count(*) FROM events WHERE error_code IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        ),
        (
            "Quarantine reasons",
            "SELECT reason, count(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        ),
    )
    for title, sql in queries:
        click.echo(f"\n{title}:")
        for name, count in con.execute(sql).fetchall():
            click.echo(f"  {count:6,}  {name}")
