"""The scope step: services, resources and changes of the principals' last 24 hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from triage_world import ALERT_DAY, ALICE, World, build_attack, build_automation_bug

from trailspike.triage import scope
from trailspike.triage.context import AlertContext, load_alert_context

NOW = datetime(2026, 4, 2)


def _ctx(world: World, uuid: str) -> AlertContext:
    return load_alert_context(world.con, uuid, {"aws_ip_ranges": ""}, NOW)


def test_resources_come_from_well_known_parameter_keys() -> None:
    assert scope.resources_in('{"roleName": "admin", "policyArn": "arn:p", "x": "y"}') == [
        "roleName=admin",
        "policyArn=arn:p",
    ]
    assert scope.resources_in("not json") == []
    assert scope.resources_in('["a"]') == []
    assert scope.resources_in(None) == []


def test_scope_lists_services_resources_and_iam_changes(world: World) -> None:
    uuid = build_attack(world)
    world.event(
        ALICE,
        ALERT_DAY.replace(hour=2, minute=14),
        "CreateAccessKey",
        "iam.amazonaws.com",
        params={"userName": "backdoor"},
        ip="203.0.113.50",
        country="RU",
    )
    world.flush()
    result = scope.scope(_ctx(world, uuid))
    assert result.verdict_signal == "suspicious"
    assert result.reasons == ("successful IAM changes (iam:CreateAccessKey)",)
    services = {r["service"]: r for r in result.evidence["services"]}
    assert len(services) == 12 and services["secretsmanager"]["failed"] == 5
    assert result.evidence["distinct_resources"] == 42  # 40 things, a secret, a user
    resources = {r["resource"] for r in result.evidence["resources"]}
    assert {"secretId=prod/db", "userName=backdoor"} <= resources


def test_scope_of_a_quiet_principal_is_neutral(world: World) -> None:
    result = scope.scope(_ctx(world, build_automation_bug(world)))
    assert result.verdict_signal == "neutral"
    assert result.evidence["accounts"] == ["111111111111"]
    assert result.evidence["window_start"] == ALERT_DAY.replace(hour=14, minute=15) - timedelta(
        hours=24
    )


def test_iam_reports_are_not_changes() -> None:
    assert scope.is_iam_change("iam:AttachUserPolicy")
    assert not scope.is_iam_change("iam:GenerateCredentialReport")
    assert not scope.is_iam_change("s3:PutObject")
