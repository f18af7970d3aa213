"""`trailspike alerts ...` through click on a real store: list, show, events, ack, close."""

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
from trailspike.rules.engine import execute_rule
from trailspike.rules.loader import load_rules
from trailspike.store.db import open_store

T0 = datetime(2026, 3, 2, 10, 0)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / "s.duckdb"
    con = open_store(path)
    add_error_burst(con, T0)
    add_records(con, spike_record(T0, 87.0))
    (uuid,) = execute_rule(
        con, load_rules().get(SPIKE_RULE), T0 + timedelta(minutes=15)
    ).alerts_created
    con.close()
    return str(path), uuid


def test_list_formats_and_filters(db: tuple[str, str]) -> None:
    path, uuid = db
    code, out = invoke("alerts", "--db", path)
    assert code == 0 and uuid[:12] in out and "37 distinct error messages" in out
    code, out = invoke("alerts", "--db", path, "--format", "ndjson")
    assert json.loads(out.splitlines()[0])["kibana.alert.uuid"] == uuid
    code, out = invoke("alerts", "--db", path, "--format", "json", "--since", "2026-03-02T10:05")
    assert json.loads(out) == []
    code, out = invoke("alerts", "--db", path, "--status", "closed")
    assert "no alerts match" in out


def test_show_and_events(db: tuple[str, str]) -> None:
    path, uuid = db
    code, out = invoke("alerts", "show", uuid[:8], "--db", path)
    assert code == 0 and "31  AccessDenied" in out and f"31  {CI_ARN}" in out
    code, out = invoke("alerts", "events", uuid[:8], "--db", path, "--limit", "5")
    assert code == 0 and len(out.splitlines()) == 5
    assert json.loads(out.splitlines()[0])["event"]["dataset"] == "aws.cloudtrail"


def test_events_of_an_alert_whose_events_were_pruned_say_so(db: tuple[str, str]) -> None:
    path, uuid = db
    con = open_store(path)
    con.execute("DELETE FROM events WHERE ts < ?", [T0 + timedelta(minutes=15)])
    add_error_burst(con, T0 + timedelta(days=1))
    con.close()
    result = CliRunner().invoke(cli, ["alerts", "events", uuid[:8], "--db", path])
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == (
        "no stored events match this alert's anomaly: the store keeps events from "
        "2026-03-03 10:00 UTC on (events_retention)\n"
    )
    con = open_store(path)
    con.execute("DELETE FROM events")
    con.close()
    result = CliRunner().invoke(cli, ["alerts", "events", uuid[:8], "--db", path])
    assert result.stderr.endswith("anomaly: the store holds no events\n")


def test_ack_then_close_false_positive_offers_exception(db: tuple[str, str]) -> None:
    path, uuid = db
    code, out = invoke("alerts", "ack", uuid, "--db", path)
    assert code == 0 and "acknowledged" in out
    code, out = invoke("alerts", "close", uuid, "--reason", "false_positive", "--db", path)
    assert code == 0 and "closed (false_positive)" in out
    assert f"--entry 'aws.cloudtrail.user_identity.arn is {CI_ARN}'" in out
    assert "[[rule.exceptions]]" in out
    code, out = invoke("alerts", "reopen", uuid, "--db", path)
    code, out = invoke(
        "alerts", "close", uuid, "--reason", "false_positive", "--add-exception", "--db", path
    )
    assert "added exception" in out
    code, out = invoke("rules", "exceptions", "list", SPIKE_RULE, "--db", path)
    assert f"aws.cloudtrail.user_identity.arn is {CI_ARN}" in out


def test_missing_store_and_bad_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["alerts", "--db", str(tmp_path / "none.duckdb")])
    assert "no store at" in str(result.exception)
    code, out = invoke("alerts", "close", "abcdef", "--reason", "bored", "--db", str(tmp_path))
    assert code == 2 and "Invalid value for '--reason'" in out


def test_hostile_text_is_not_rich_markup(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    con = open_store(path)
    evil = "arn:aws:iam::1:user/[bold red]x[/]"
    add_records(
        con,
        spike_record(
            T0, 90.0,
            influencers=[
                {"influencer_field_name": "source.ip", "influencer_field_values": ["1.2.3.4"]}
            ],
        ),
    )  # fmt: skip
    con.execute(
        "INSERT INTO events (event_id, ts, error_message, user_identity_arn, doc, ingested_at) "
        "VALUES ('e1', ?, 'm', ?, '{}', ?)",
        [T0, evil, T0],
    )
    execute_rule(con, load_rules().get(SPIKE_RULE), T0 + timedelta(minutes=15))
    con.close()
    code, out = invoke("alerts", "--db", str(path))
    compact = "".join(out.split()).replace("│", "")
    # Escaped, the tags are printed as text; unescaped, rich would swallow them.
    assert code == 0 and "[boldred]x[/]" in compact


def test_group_by_principal(db: tuple[str, str]) -> None:
    path, uuid = db
    code, out = invoke("alerts", "--db", path, "--group-by", "principal")
    assert code == 0 and CI_ARN[:30] in out and uuid[:12] in out
    code, out = invoke("alerts", "--db", path, "--group-by", "principal", "--format", "json")
    (group,) = json.loads(out)
    assert (group["key"], group["alerts"], group["top_alert"]) == (CI_ARN, 1, uuid)
    code, out = invoke("alerts", "--db", path, "--group-by", "user")
    assert code != 0 and "principal" in out
