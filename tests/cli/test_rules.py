"""`trailspike rules ...` through click on a real store: list, show, validate, run, backfill,
exceptions and value lists."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
from rules_helpers import CI_ARN, SPIKE_RULE, add_error_burst, add_records, spike_record

from trailspike.cli import cli
from trailspike.rules.loader import shipped_rules_dir
from trailspike.store.db import open_store

T0 = datetime(2026, 3, 2, 10, 0)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "s.duckdb"
    con = open_store(path)
    add_error_burst(con, T0)
    add_records(con, spike_record(T0, 87.0))
    con.close()
    return str(path)


def test_help_has_examples() -> None:
    for command in (["rules"], ["rules", "backfill"], ["rules", "exceptions", "add"], ["run"]):
        code, out = invoke(*command, "--help")
        assert code == 0 and "Example" in out


def test_list_and_show() -> None:
    code, out = invoke("rules", "list", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 5
    assert {r["rule_id"]: r["threshold"] for r in rows}[
        "ac706eae-d5ec-4b14-b4fd-e8ba8086f0e1"
    ] == 75
    code, out = invoke("rules", "show", SPIKE_RULE)
    assert code == 0 and "every 15m over [now-60m, now]" in out and "TA0007 Discovery" in out


def test_validate_reports_failing_inline_tests(tmp_path: Path) -> None:
    code, out = invoke("rules", "validate")
    assert code == 0 and out.count("ok ") == 5
    text = (shipped_rules_dir() / "ml_cloudtrail_error_message_spike.toml").read_text()
    bad = tmp_path / "ml_custom.toml"
    bad.write_text(text.replace("expected_alerts = 1", "expected_alerts = 3"))
    (tmp_path / "tests").symlink_to(shipped_rules_dir() / "tests")
    code, out = invoke("rules", "validate", str(bad))
    assert code == 1 and "FAIL ml_custom.toml" in out and "expected 3 alerts, got 1" in out


def test_short_lookback_is_flagged_with_a_suggestion(tmp_path: Path) -> None:
    text = (shipped_rules_dir() / "ml_cloudtrail_error_message_spike.toml").read_text()
    path = tmp_path / "ml_short.toml"
    path.write_text(text.replace('from = "now-60m"', 'from = "now-20m"').split("[[tests]]")[0])
    code, out = invoke("rules", "validate", str(path))
    assert code == 0 and 'set from = "now-50m"' in out


def test_run_then_backfill_never_duplicates(db: str) -> None:
    code, out = invoke("rules", "run", SPIKE_RULE, "--db", db, "--at", "2026-03-02T10:30")
    assert code == 0 and "1 new alerts" in out
    args = [
        "rules",
        "backfill",
        "--db",
        db,
        "--start",
        "2026-03-02T08:00",
        "--end",
        "2026-03-02T12:00",
    ]
    code, out = invoke(*args)
    # 17 times x 5 rules: the ends of each, and the spike rule around its record.
    assert code == 0 and "15 executions (70 with no anomaly in their window skipped), 0 new" in out
    assert "job rare_error_code has not run" in out


def _analysed(db: str, job_id: str, first: datetime, end: datetime) -> None:
    """Mark ``job_id`` as having analysed ``[first, end)``: one bucket row and its state."""
    con = open_store(Path(db))
    con.execute(
        "INSERT INTO buckets (job_id, timestamp, bucket_span, anomaly_score,"
        " initial_anomaly_score, event_count) VALUES (?, ?, 900, 0, 0, 1)",
        [job_id, first],
    )
    con.execute(
        "INSERT INTO job_state (job_id, last_bucket_end, updated_at) VALUES (?, ?, ?)",
        [job_id, end, end],
    )
    con.close()


def test_backfill_without_a_range_replays_what_the_jobs_analysed(db: str) -> None:
    # Past logs imported months ago: the default range is the jobs' data, not "until now".
    _analysed(db, "high_distinct_count_error_message", T0, T0 + timedelta(minutes=30))
    code, out = invoke("rules", "backfill", "--db", db, "--rule", SPIKE_RULE)
    assert code == 0, out
    # From the first bucket (10:00) to the data's end + query delay (2m) + one interval (15m).
    assert "replaying rule runs from 2026-03-02 10:00 to 2026-03-02 10:47 UTC" in out
    assert "4 executions, 1 new alerts" in out  # 10:00, 10:15, 10:30, 10:45


def test_backfill_without_results_says_what_to_run(db: str) -> None:
    result = CliRunner().invoke(cli, ["rules", "backfill", "--db", db])
    assert result.exit_code != 0
    assert "run `trailspike jobs run` first" in str(result.exception)


def test_backfill_rejects_reversed_range(db: str) -> None:
    args = ["rules", "backfill", "--db", db, "--start", "2026-03-02", "--end", "2026-03-01"]
    result = CliRunner().invoke(cli, args)
    assert "--end is before --start" in str(result.exception)


def test_exceptions_and_lists_round_trip(db: str) -> None:
    code, out = invoke("rules", "lists", "add", "automation-arns", CI_ARN, "--db", db)
    assert code == 0 and "1 values added" in out
    code, out = invoke(
        "rules", "exceptions", "add", SPIKE_RULE, "--db", db, "--name", "automation",
        "--entry", "aws.cloudtrail.user_identity.arn in list automation-arns",
    )  # fmt: skip
    assert code == 0
    item_id = out.split()[2]
    code, out = invoke("rules", "exceptions", "list", "--db", db)
    assert "automation: aws.cloudtrail.user_identity.arn in list automation-arns" in out
    code, out = invoke("rules", "run", SPIKE_RULE, "--db", db, "--at", "2026-03-02T10:30")
    assert "0 new alerts, 0 already alerted, 1 excepted" in out
    code, out = invoke("rules", "exceptions", "remove", item_id, "--db", db)
    assert code == 0
    code, out = invoke("rules", "run", SPIKE_RULE, "--db", db, "--at", "2026-03-02T10:45")
    assert "1 new alerts" in out
    code, out = invoke("rules", "lists", "show", "--db", db)
    assert "automation-arns\t1 values" in out


def test_bad_entry_is_a_clear_error(db: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["rules", "exceptions", "add", SPIKE_RULE, "--db", db, "--name", "x", "--entry", "nope"],
    )
    assert result.exit_code != 0
    assert "cannot read exception entry 'nope'" in str(result.exception)


def test_unknown_rule_is_a_clear_error(db: str) -> None:
    result = CliRunner().invoke(cli, ["rules", "run", "nope", "--db", db])
    assert "unknown rule 'nope'" in str(result.exception)


def test_times_may_be_relative(db: str) -> None:
    code, out = invoke("rules", "backfill", "--db", db, "--start", "now-1h", "--rule", SPIKE_RULE)
    # Relative to the clock: nothing stored is that recent, so nothing is raised.
    assert code == 0 and " executions (2 with no anomaly in their window skipped), 0 new" in out


def test_status_shows_last_run_alerts_and_warnings(db: str) -> None:
    invoke("rules", "run", SPIKE_RULE, "--db", db, "--at", "2026-03-02T10:30")
    code, out = invoke("rules", "status", "--db", db)
    assert code == 0
    assert "Spike in AWS Error Messages (78d3d8d9-b476-451d-a9e0-7a5addd70670): last run " in out
    assert "2026-03-02 10:30; 1 alerts, 1 open" in out
    assert "Rare AWS Error Code (19de8096-e2b0-4bd8-80c9-34a820813fff): never run" in out


def test_schema_describes_the_rule_file() -> None:
    code, out = invoke("rules", "schema")
    schema = json.loads(out)
    assert code == 0 and schema["required"] == ["metadata", "rule"]
    ml = schema["$defs"]["MachineLearningRuleData"]
    assert "from" in ml["properties"] and ml["additionalProperties"] is False
