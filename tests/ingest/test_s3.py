"""S3 ingest against moto's server mode on 127.0.0.1 (a real HTTP S3 API, not a patch)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson
import pytest
from ingest_helpers import record

from trailspike.core.errors import InputError
from trailspike.core.settings import load_settings
from trailspike.ingest.pipeline import ingest

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def make_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, name: str) -> object:
    """Set moto's test credentials in the environment and create bucket ``name``."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=name)
    return client


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, str]]:
    name = f"trail-{id(monkeypatch)}"
    yield make_bucket(s3_endpoint, monkeypatch, name), name


def put(client: object, bucket: str, key: str, records: list[dict]) -> None:
    body = gzip.compress(orjson.dumps({"Records": records}))
    client.put_object(Bucket=bucket, Key=key, Body=body)  # type: ignore[attr-defined]


def test_s3_prefix_ingest_and_rerun(store, bucket, s3_endpoint: str) -> None:
    client, name = bucket
    prefix = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/01/"
    put(client, name, prefix + "a.json.gz", [record(1), record(2)])
    put(client, name, prefix + "b.json.gz", [record(2), record(3)])
    put(client, name, "other/c.json.gz", [record(9)])
    settings = load_settings({"s3_endpoint_url": s3_endpoint}, environ={})
    summary = ingest(store, [f"s3://{name}/AWSLogs/"], settings)
    assert (summary.files, summary.records, summary.stored, summary.duplicates) == (2, 4, 3, 1)
    paths = [r[0] for r in store.execute("SELECT path FROM ingested_files ORDER BY 1").fetchall()]
    assert paths == [f"s3://{name}/{prefix}a.json.gz", f"s3://{name}/{prefix}b.json.gz"]
    etag = store.execute("SELECT fingerprint FROM ingested_files LIMIT 1").fetchone()
    assert etag is not None and len(etag[0]) == 32  # the object's ETag (MD5)
    again = ingest(store, [f"s3://{name}/AWSLogs/"], settings)
    assert (again.skipped_files, again.stored) == (2, 0)
    # A new object under the prefix is picked up on the next run.
    put(client, name, prefix + "d.json.gz", [record(4)])
    third = ingest(store, [f"s3://{name}/AWSLogs/"], settings)
    assert (third.skipped_files, third.stored) == (2, 1)


def test_missing_bucket_is_a_clear_error(store, s3_endpoint: str, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = load_settings({"s3_endpoint_url": s3_endpoint}, environ={})
    with pytest.raises(InputError, match="cannot list S3 objects"):
        ingest(store, ["s3://no-such-bucket-here/x"], settings)


def test_s3_objects_are_read_by_parallel_workers(store, bucket, s3_endpoint, monkeypatch) -> None:
    from trailspike.ingest import pipeline

    client, name = bucket
    for part in range(3):
        put(client, name, f"logs/{part}.json.gz", [record(part * 10 + i) for i in range(5)])
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    settings = load_settings({"s3_endpoint_url": s3_endpoint, "ingest_workers": 2}, environ={})
    summary = ingest(store, [f"s3://{name}/logs/"], settings)
    assert (summary.files, summary.records, summary.stored) == (3, 15, 15)
    assert store.execute("SELECT count(*) FROM ingested_files WHERE complete").fetchone() == (3,)


def test_workers_use_the_environment_of_the_ingest_not_of_their_fork_server(
    store, s3_endpoint, tmp_path, monkeypatch
) -> None:
    """The fork server may have started (here: does start) before the credentials were set."""
    from ingest_helpers import write_s3_file

    from trailspike.ingest import pipeline
    from trailspike.store.db import open_store

    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for n in range(2):
        write_s3_file(tmp_path / f"l{n}.json.gz", [record(100 + n)])
    local = open_store(tmp_path / "local.duckdb")
    assert (
        ingest(local, [str(tmp_path)], load_settings({"ingest_workers": 2}, environ={})).stored == 2
    )
    local.close()

    name = f"trail-env-{id(monkeypatch)}"
    client = make_bucket(s3_endpoint, monkeypatch, name)
    for part in range(2):
        put(client, name, f"e/{part}.json.gz", [record(200 + part)])
    settings = load_settings({"s3_endpoint_url": s3_endpoint, "ingest_workers": 2}, environ={})
    summary = ingest(store, [f"s3://{name}/e/"], settings)
    assert (summary.stored, summary.damaged_files) == (2, [])


def test_a_recent_listing_skips_older_dated_folders_in_few_requests(
    bucket, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    from trailspike.ingest import sources

    client, name = bucket
    base = "AWSLogs/123456789012/CloudTrail"
    keys = [
        f"{base}/{region}/{day}/f{n}.json.gz"
        for region in ("us-east-1", "eu-west-1")
        for day in ("2025/12/31", "2026/01/30", "2026/02/27", "2026/02/28", "2026/03/01")
        for n in range(2)
    ]
    keys += ["AWSLogs/loose.json.gz", f"{base}/us-east-1/notes/x.json.gz"]
    for key in keys:
        put(client, name, key, [record(1)])
    requests: list[str] = []
    made = sources.s3_client

    def counted(settings: object) -> object:
        c = made(settings)  # type: ignore[arg-type]
        c.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: requests.append("L"))
        return c

    monkeypatch.setattr(sources, "s3_client", counted)
    settings = load_settings({"s3_endpoint_url": s3_endpoint}, environ={})
    url = f"s3://{name}/AWSLogs/"
    everything = sources.expand_sources([url], settings)
    assert sorted(f.path for f in everything) == sorted(f"s3://{name}/{k}" for k in keys)
    assert len(requests) == 1  # one flat listing
    requests.clear()
    recent = sources.expand_sources([url], settings, since=date(2026, 2, 28))
    dated = ("2025/12/31", "2026/01/30", "2026/02/27", "2026/02/28", "2026/03/01")
    expected = [k for k in keys if not any(d in k for d in dated[:3])]
    assert len(expected) == 2 * 2 * 2 + 2
    assert [f.path for f in recent] == sorted(f"s3://{name}/{k}" for k in expected)
    # AWSLogs, account, CloudTrail, 2 regions, notes, 2 years kept (2026), 2 x 2 months kept,
    # 2 x 2 days kept: the old days' folders are never listed.
    assert len(requests) == 1 + 1 + 1 + 2 + 1 + 2 + 4 + 4
