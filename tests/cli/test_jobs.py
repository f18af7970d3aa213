"""`trailspike jobs ...` and `trailspike anomalies` through click, on a real store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from trailspike.cli import cli
from trailspike.core.errors import ConfigError
from trailspike.store.db import open_store

SPIKE = "high_distinct_count_error_message"
T0 = datetime(2026, 1, 5)


def insert_events(con, rows: list[dict]) -> None:
    start = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    columns = ("ts", "error_message", "user_identity_arn", "source_ip")
    data = {c: [r[c] for r in rows] for c in columns}
    data["event_id"] = [f"e{start + n}" for n in range(len(rows))]
    data["doc"] = ["{}"] * len(rows)
    data["ingested_at"] = [datetime(2026, 6, 1)] * len(rows)
    con.register("new_events", pa.table(data))
    con.execute("INSERT INTO events BY NAME SELECT * FROM new_events")
    con.unregister("new_events")


def baseline_events(days: int) -> list[dict]:
    """Three errors per 15 minutes, from two users, with three messages in rotation."""
    return [
        {
            "ts": T0 + timedelta(minutes=15 * b, seconds=60 * k),
            "error_message": f"Access denied for operation {(b + k) % 3}",
            "user_identity_arn": f"arn:aws:iam::111122223333:user/u{k % 2}",
            "source_ip": f"10.0.0.{k % 2}",
        }
        for b in range(days * 96)
        for k in range(2 + b % 2)
    ]


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "cli.duckdb"
    con = open_store(path)
    insert_events(con, baseline_events(3))
    insert_events(
        con,
        [
            {
                "ts": T0 + timedelta(days=3, hours=2, seconds=k),
                "error_message": f"not authorized on resource r{k}",
                "user_identity_arn": "arn:aws:iam::111122223333:user/attacker",
                "source_ip": "203.0.113.9",
            }
            for k in range(40)
        ],
    )
    con.close()
    return str(path)


def invoke(*args: str):
    result = CliRunner(env={"COLUMNS": "250"}).invoke(cli, list(args), catch_exceptions=True)
    return result


@pytest.mark.parametrize(
    "command",
    [
        ["jobs"],
        ["jobs", "list"],
        ["jobs", "show"],
        ["jobs", "validate"],
        ["jobs", "run"],
        ["jobs", "reset"],
        ["anomalies"],
    ],
)
def test_help_has_an_example(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "trailspike " in result.output and "Example" in result.output


def test_list_and_show() -> None:
    listed = invoke("jobs", "list", "--db", ":memory:")
    assert listed.exit_code == 0 and "rare_method_for_a_username" in listed.output
    shown = invoke("jobs", "show", SPIKE)
    data = json.loads(shown.output)
    assert data["analysis_config"]["detectors"][0]["function"] == "high_distinct_count"
    assert data["datafeed_config"]["max_empty_searches"] == 10


def test_validate_reports_file_and_key(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "job_id": "mine",
                "analysis_config": {"bucket_span": "1h", "detectors": [{"function": "count"}]},
            }
        )
    )
    assert "ok: mine" in invoke("jobs", "validate", str(good)).output
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "job_id": "mine",
                "analysis_config": {
                    "bucket_span": "1h",
                    "detectors": [{"function": "count"}],
                    "influencer": [],
                },
            }
        )
    )
    result = invoke("jobs", "validate", str(bad))
    assert isinstance(result.exception, ConfigError)
    assert str(bad) in str(result.exception)
    assert "analysis_config.influencer" in str(result.exception)


def test_run_then_anomalies(db: str) -> None:
    end = (T0 + timedelta(days=3, hours=4)).isoformat()
    ran = invoke("jobs", "run", SPIKE, "--db", db, "--end", end, "--no-progress")
    assert ran.exit_code == 0, ran.output
    assert f"{SPIKE}: 289 buckets" in ran.output
    again = invoke("jobs", "run", SPIKE, "--db", db, "--end", end, "--no-progress")
    assert "up to date" in again.output
    table = invoke("anomalies", "--db", db, "--min-score", "50")
    assert "user/attacker" in table.output and "high_distinct_count" in table.output
    records = json.loads(
        invoke(
            "anomalies", "--db", db, "--job", SPIKE, "--format", "json", "--min-score", "50"
        ).output
    )
    assert records and records[0]["result_type"] == "record"
    assert records[0]["timestamp"] == "2026-01-08T02:00:00Z"
    assert records[0]["influencers"][0]["influencer_field_values"][0].endswith("user/attacker")
    assert (
        json.loads(
            invoke("anomalies", "--db", db, "--since", "2027-01-01", "--format", "json").output
        )
        == []
    )


def test_anomalies_without_a_store_says_so(tmp_path: Path) -> None:
    result = invoke("anomalies", "--db", str(tmp_path / "missing.duckdb"))
    assert isinstance(result.exception, ConfigError) and "no store at" in str(result.exception)
    assert not (tmp_path / "missing.duckdb").exists()


def test_reset_forgets_results(db: str) -> None:
    end = (T0 + timedelta(days=1)).isoformat()
    invoke("jobs", "run", SPIKE, "--db", db, "--end", end, "--no-progress")
    assert "reset: " + SPIKE in invoke("jobs", "reset", SPIKE, "--db", db, "--yes").output
    con = open_store(db)
    assert con.execute("SELECT count(*) FROM buckets").fetchall() == [(0,)]
    con.close()


def test_changed_job_is_reported_and_others_still_run(db: str, tmp_path: Path) -> None:
    end = (T0 + timedelta(days=1)).isoformat()
    invoke("jobs", "run", SPIKE, "--db", db, "--end", end, "--no-progress")
    shown = json.loads(invoke("jobs", "show", SPIKE).output)
    shown["analysis_config"]["bucket_span"] = "30m"
    (tmp_path / "changed.json").write_text(json.dumps(shown))
    later = (T0 + timedelta(days=2)).isoformat()
    result = invoke(
        "jobs",
        "run",
        SPIKE,
        "rare_error_code",
        "--db",
        db,
        "--end",
        later,
        "--job-file",
        str(tmp_path / "changed.json"),
        "--no-progress",
    )
    assert result.exit_code == 2
    assert f"{SPIKE}: error:" in result.output and "jobs reset" in result.output
    assert "rare_error_code:" in result.output


def test_reset_changed_resets_only_the_jobs_whose_definition_changed(
    db: str, tmp_path: Path
) -> None:
    # After an upgrade (or an edited job file) a run refuses the changed job until it is reset.
    end = (T0 + timedelta(days=1)).isoformat()
    invoke("jobs", "run", SPIKE, "--db", db, "--end", end, "--no-progress")
    shown = json.loads(invoke("jobs", "show", SPIKE).output)
    shown["analysis_config"]["bucket_span"] = "30m"
    (tmp_path / "changed.json").write_text(json.dumps(shown))
    edited = ("--job-file", str(tmp_path / "changed.json"))
    result = invoke("jobs", "reset", "--changed", *edited, "--db", db, "--yes")
    assert result.exit_code == 0 and result.output.strip() == f"reset: {SPIKE}"
    con = open_store(db)
    assert con.execute("SELECT count(*) FROM job_state").fetchall() == [(0,)]
    con.close()
    again = invoke("jobs", "reset", "--changed", *edited, "--db", db, "--yes")
    assert "no job changed" in again.output
    later = (T0 + timedelta(days=2)).isoformat()
    ran = invoke("jobs", "run", SPIKE, *edited, "--db", db, "--end", later, "--no-progress")
    assert ran.exit_code == 0, ran.output
    assert invoke("jobs", "reset", "--db", db).exit_code == 2  # neither ids nor --changed
