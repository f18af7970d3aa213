"""Loading an alert: id prefixes, the anomaly's events and the principals behind it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from triage_world import ALERT_DAY, ALICE, DEPLOYER, World, build_automation_bug

from trailspike.core.errors import InputError
from trailspike.triage.context import field_values, load_alert_context, resolve_alert_id

NOW = datetime(2026, 4, 2)


def test_alert_ids_resolve_from_a_unique_prefix(world: World) -> None:
    uuid = build_automation_bug(world)
    assert resolve_alert_id(world.con, uuid[:8]) == uuid
    assert resolve_alert_id(world.con, uuid) == uuid


def test_unknown_and_ambiguous_ids_are_input_errors(world: World) -> None:
    first = build_automation_bug(world)
    second = world.alert(ALERT_DAY.replace(hour=15), arns=[DEPLOYER.arn], ips=[DEPLOYER.ip])
    twin = first[:6] + "f" * (len(first) - 6)
    world.con.execute("UPDATE alerts SET alert_uuid = ? WHERE alert_uuid = ?", [twin, second])
    with pytest.raises(InputError, match="no alert"):
        resolve_alert_id(world.con, "zzzz")
    with pytest.raises(InputError, match="ambiguous"):
        resolve_alert_id(world.con, first[:6])
    with pytest.raises(InputError, match="empty"):
        resolve_alert_id(world.con, "  ")


def test_context_reads_the_bucket_events_of_the_influencer_principals(world: World) -> None:
    uuid = build_automation_bug(world)
    # Another principal's error in the same bucket is not part of this alert's story.
    world.event(
        ALICE,
        ALERT_DAY.replace(hour=14, minute=5),
        "ListUsers",
        "iam.amazonaws.com",
        error_code="AccessDenied",
        error_message="nope",
    )
    world.flush()
    ctx = load_alert_context(world.con, uuid, {}, NOW)
    assert ctx.bucket_start == ALERT_DAY.replace(hour=14)
    assert ctx.bucket_end == ctx.bucket_start + timedelta(minutes=15)
    assert len(ctx.events) == 300
    assert ctx.principals == (DEPLOYER.arn,)
    assert ctx.access_keys == (DEPLOYER.key,)
    assert ctx.source_ips == (DEPLOYER.ip,)
    assert "list_contains(?, user_identity_arn)" in ctx.events_query.sql
    assert "error_message IS NOT NULL" in ctx.events_query.sql


def test_unmatched_influencers_fall_back_to_the_whole_bucket(world: World) -> None:
    bucket = ALERT_DAY.replace(hour=9)
    world.event(
        ALICE,
        bucket + timedelta(minutes=1),
        "ListUsers",
        "iam.amazonaws.com",
        error_code="AccessDenied",
        error_message="nope",
    )
    uuid = world.alert(bucket, arns=["arn:aws:iam::1:user/renamed"], ips=[])
    ctx = load_alert_context(world.con, uuid, {}, NOW)
    assert len(ctx.events) == 1
    assert ctx.principals == ("arn:aws:iam::1:user/renamed", ALICE.arn)
    assert ctx.notes and "influencer" in ctx.notes[0]


def test_by_field_values_narrow_the_events(world: World) -> None:
    bucket = ALERT_DAY.replace(hour=9)
    world.event(ALICE, bucket, "ListUsers", "iam.amazonaws.com")
    world.event(ALICE, bucket + timedelta(minutes=5), "ListRoles", "iam.amazonaws.com")
    uuid = world.alert(
        bucket,
        arns=[ALICE.arn],
        ips=[ALICE.ip],
        job_id="rare_method_for_a_user",
        function="rare",
        field_name=None,
        by_field_name="event.action",
        by_field_value="ListRoles",
        span=3600,
    )
    ctx = load_alert_context(world.con, uuid, {}, NOW)
    assert [e["event_action"] for e in ctx.events] == ["ListRoles"]
    assert ctx.bucket_end == bucket + timedelta(hours=1)


def test_broken_alert_document_is_an_input_error(world: World) -> None:
    uuid = build_automation_bug(world)
    world.con.execute("UPDATE alerts SET doc = '[1, 2' WHERE alert_uuid = ?", [uuid])
    with pytest.raises(InputError, match="not JSON"):
        load_alert_context(world.con, uuid, {}, NOW)


def test_field_values_reads_flat_nested_and_scalar_fields() -> None:
    doc = {"aws": {"cloudtrail": {"user_identity": {"arn": ["a", "b"]}}}, "user.name": "x"}
    assert field_values(doc, "aws.cloudtrail.user_identity.arn") == ["a", "b"]
    assert field_values(doc, "user.name") == ["x"]
    assert field_values(doc, "source.ip") == []


def test_assumed_role_sessions_share_their_role_history(world: World) -> None:
    from trailspike.triage.actor import source_ips
    from trailspike.triage.context import role_of

    # Each run of the role has a new session name; the role's history still counts.
    old_run = DEPLOYER.__class__(
        **{
            **DEPLOYER.__dict__,
            "arn": DEPLOYER.arn.replace("build-42", "build-41"),
            "key": "ASIAOLD",
        }
    )
    world.event(old_run, ALERT_DAY.replace(hour=3), "GetFunction", "lambda.amazonaws.com")
    uuid = build_automation_bug(world)
    ctx = load_alert_context(world.con, uuid, {}, NOW)
    assert ctx.roles == (role_of(DEPLOYER.arn),)
    assert ctx.roles[0] == "arn:aws:sts::111111111111:assumed-role/ci-deployer/"
    world.con.execute(
        "DELETE FROM events WHERE user_identity_arn = ? AND ts < ?", [DEPLOYER.arn, ALERT_DAY]
    )
    row = source_ips(ctx).evidence["rows"][0]
    assert row["seen_before"] and row["first_seen"] == ALERT_DAY.replace(hour=3)
