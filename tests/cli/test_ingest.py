from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from trailspike.cli import cli


def record(n: int, **overrides: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventTime": f"2026-01-01T10:{n:02d}:00Z",
        "eventID": f"id-{n}",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "requestParameters": {"bucketName": "logs", "key": f"k{n}"},
    }
    rec.update(overrides)
    return {k: v for k, v in rec.items() if v is not None}


def write_s3_file(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_bytes(gzip.compress(orjson.dumps({"Records": records})))


def write_lines(path: Path, values: list[Any]) -> Path:
    path.write_text("\n".join(v if isinstance(v, str) else json.dumps(v) for v in values) + "\n")
    return path


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in ("TRAILSPIKE_GEOIP_CITY_DB", "TRAILSPIKE_GEOIP_ASN_DB", "TRAILSPIKE_DB"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.mark.parametrize("command", ["ingest", "normalize", "quarantine"])
def test_help_has_an_example(runner: CliRunner, command: str) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "trailspike " + command in result.output


def test_ingest_then_quarantine(runner: CliRunner, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_s3_file(logs / "a.json.gz", [record(1), record(2)])
    write_lines(logs / "b.jsonl", [record(3), "{oops"])
    result = runner.invoke(cli, ["ingest", str(logs), "--db", "t.duckdb"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(
        "2 files (0 skipped), 4 events read, 3 stored, 0 duplicates, 1 quarantined"
    )
    listing = runner.invoke(cli, ["quarantine", "--db", "t.duckdb", "--json"])
    [row] = [json.loads(line) for line in listing.output.splitlines()]
    assert row["line"] == 2 and row["reason"].startswith("bad JSON") and row["snippet"] == "{oops"
    summary = runner.invoke(cli, ["quarantine", "--db", "t.duckdb", "--summary"])
    assert "1  bad JSON" in summary.output


def test_ingest_from_stdin(runner: CliRunner) -> None:
    data = b"\n".join(orjson.dumps(record(n)) for n in range(3))
    result = runner.invoke(cli, ["ingest", "-", "--db", "s.duckdb"], input=data)
    assert result.exit_code == 0, result.output
    assert "3 events read, 3 stored" in result.output


def test_ingest_missing_path_is_one_line_error(tmp_path: Path) -> None:
    from trailspike.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", str(tmp_path / "missing"), "--db", str(tmp_path / "x.duckdb")])
    assert exit_info.value.code == 2


def test_normalize_prints_ecs_and_reports_bad_records(runner: CliRunner, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [record(1), record(2, eventTime=None)])
    result = runner.invoke(cli, ["normalize", str(path)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    [doc] = [json.loads(line) for line in lines if line.startswith("{")]
    assert doc["event"]["id"] == record(1)["eventID"]
    assert doc["aws"]["cloudtrail"]["request_parameters"] == "{bucketName=logs, key=k1}"
    assert "line 2, record 2: missing eventTime" in result.stderr
