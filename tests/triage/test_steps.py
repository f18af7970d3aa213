"""Steps about the errors: history, related alerts, recent changes, parameters, enumeration."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
from triage_world import (
    ALERT_DAY,
    ALICE,
    BUG_MESSAGE,
    DEPLOYER,
    HISTORY_START,
    World,
    build_attack,
    build_automation_bug,
    hourly,
)

from trailspike.triage import steps
from trailspike.triage.context import AlertContext, Query, load_alert_context, run_query

NOW = datetime(2026, 4, 2)
SETTINGS = {"aws_ip_ranges": ""}


def _ctx(world: World, uuid: str) -> AlertContext:
    return load_alert_context(world.con, uuid, SETTINGS, NOW)


def _rerun(con: duckdb.DuckDBPyConnection, query_text: str) -> list[dict]:
    """Run the first query a step shows, with its parameters, as a reader would."""
    import json

    first = query_text.split("\n\n")[0]
    sql, params = first.split("\n-- parameters: ")
    values = [
        datetime.fromisoformat(v)
        if isinstance(v, str) and v[:2] == "20" and len(v) >= 19 and v[10] == " "
        else v
        for v in json.loads(params)
    ]
    return run_query(con, Query(sql, tuple(values)))


def test_error_history_flags_many_new_messages(world: World) -> None:
    result = steps.error_history(_ctx(world, build_attack(world)))
    assert result.verdict_signal == "suspicious"
    assert result.evidence["distinct_messages"] == 41
    assert result.evidence["new_messages"] == 41
    row = result.evidence["rows"][0]
    assert row["new"] and row["days_before_alert"] == 0 and len(row["daily_30d"]) == 30
    assert "never seen before" in result.reasons[0]


def test_error_history_sees_one_repeated_message_as_benign(world: World) -> None:
    result = steps.error_history(_ctx(world, build_automation_bug(world)))
    assert result.verdict_signal == "benign"
    assert result.reasons == ("one principal, one repeated message (300 calls)",)
    message = result.evidence["rows"][0]
    assert message["value"].startswith("User: arn:aws:sts::111111111111:assumed-role")
    assert message["in_alert"] == 300 and message["daily_30d"][-1] == 300


def test_a_retried_ec2_denial_is_one_message_by_its_wording(world: World) -> None:
    # EC2 writes a fresh encoded authorization message into every denial: counted raw, 300
    # retries were 300 new messages and the step called them suspicious.
    result = steps.error_history(_ctx(world, build_automation_bug(world, ec2=True)))
    assert result.verdict_signal == "benign"
    assert result.reasons == ("one principal, one repeated message (300 calls)",)
    row = result.evidence["rows"][0]
    assert row["value"].endswith("Encoded authorization failure message: <encoded>")
    assert row["in_alert"] == 300 and row["daily_30d"][-1] == 300
    assert sum(r["n"] for r in _rerun(world.con, result.query)) == 300


def test_error_history_knows_an_old_error(world: World) -> None:
    # The same denied call happened on five earlier days.
    for day in range(5):
        world.event(
            DEPLOYER,
            HISTORY_START + timedelta(days=3 * day, hours=9),
            "PutItem",
            "dynamodb.amazonaws.com",
            error_code="AccessDeniedException",
            error_message=BUG_MESSAGE,
        )
    result = steps.error_history(_ctx(world, build_automation_bug(world)))
    row = result.evidence["rows"][0]
    assert not row["new"]
    assert row["days_before_alert"] == 5
    assert row["first_seen"] == HISTORY_START + timedelta(hours=9)
    rerun = _rerun(world.con, result.query)
    assert sum(r["n"] for r in rerun) == 305


def test_error_history_without_errors_says_so(world: World) -> None:
    world.event(ALICE, ALERT_DAY.replace(hour=9), "ListThing", "s3.amazonaws.com")
    uuid = world.alert(
        ALERT_DAY.replace(hour=9),
        arns=[ALICE.arn],
        ips=[ALICE.ip],
        field_name=None,
        by_field_name="event.action",
        by_field_value="ListThing",
        function="rare",
        job_id="rare_method_for_a_user",
        span=3600,
    )
    result = steps.error_history(_ctx(world, uuid))
    assert result.evidence["erroring_events"] == 0
    assert result.verdict_signal == "neutral"


def test_related_alerts_finds_other_rules_for_the_principal(world: World) -> None:
    result = steps.related_alerts(_ctx(world, build_attack(world)))
    assert result.verdict_signal == "suspicious"
    assert result.evidence["alerts"] == 1
    assert result.evidence["rows"][0]["rule_name"] == "Unusual Country For an AWS Command"
    assert len(_rerun(world.con, result.query)) == 1


def test_related_alerts_ignores_other_principals(world: World) -> None:
    build_attack(world)  # alerts about alice only
    result = steps.related_alerts(_ctx(world, build_automation_bug(world)))
    assert result.evidence["alerts"] == 0
    assert result.verdict_signal == "neutral"


def test_recent_changes_finds_the_deploy_before_the_errors(world: World) -> None:
    result = steps.recent_changes(_ctx(world, build_automation_bug(world)))
    assert result.verdict_signal == "benign"
    assert result.evidence["rows"][0]["event_action"] == "UpdateFunctionCode"
    assert "started after a deploy" in result.reasons[0]


def test_recent_changes_none_before_the_attack(world: World) -> None:
    result = steps.recent_changes(_ctx(world, build_attack(world)))
    assert result.verdict_signal == "neutral"
    assert result.evidence["changes"] == 0


def test_request_parameters_are_grouped(world: World) -> None:
    result = steps.request_parameters(_ctx(world, build_automation_bug(world)))
    assert result.evidence["groups"] == 1
    row = result.evidence["rows"][0]
    assert (row["service"], row["action"], row["calls"]) == ("dynamodb", "PutItem", 300)
    assert row["request_parameters"] == '{"tableName": "orders"}'


def test_enumeration_across_services_and_secrets_is_suspicious(world: World) -> None:
    result = steps.enumeration(_ctx(world, build_attack(world)))
    assert result.verdict_signal == "suspicious"
    assert result.evidence["distinct_denied_reads"] == 41
    assert result.evidence["services"] == 12
    assert result.evidence["sensitive_services"] == ["secretsmanager"]
    assert result.reasons[0].startswith("41 distinct denied List*/Describe*/Get* across 12")


def test_one_denied_write_is_not_enumeration(world: World) -> None:
    result = steps.enumeration(_ctx(world, build_automation_bug(world)))
    assert result.verdict_signal == "neutral"
    assert result.evidence["distinct_denied_reads"] == 0
    assert result.evidence["error_services"] == ["dynamodb"]


def test_errors_on_a_service_new_to_the_principal_look_like_adoption(world: World) -> None:
    for ts in hourly(HISTORY_START, 30, range(9, 17), weekdays_only=True):
        world.event(ALICE, ts, "ListBuckets", "s3.amazonaws.com")
    bucket = ALERT_DAY.replace(hour=10)
    for i in range(12):
        world.event(
            ALICE,
            bucket + timedelta(minutes=i),
            "CreateJob",
            "glue.amazonaws.com",
            error_code="AccessDeniedException",
            error_message=f"User is not authorized to perform: glue:CreateJob on job-{i}",
        )
    uuid = world.alert(bucket, arns=[ALICE.arn], ips=[ALICE.ip])
    result = steps.enumeration(_ctx(world, uuid))
    assert result.verdict_signal == "benign"
    assert result.reasons == ("errors confined to one service new to these principals (glue)",)


def test_denied_secret_reads_repeated_all_week_are_routine(world: World) -> None:
    # A misconfigured script is denied the same parameter every day: not an attack signal.
    for day in range(7):
        world.event(
            DEPLOYER,
            ALERT_DAY.replace(hour=9) - timedelta(days=day + 1),
            "GetParameter",
            "ssm.amazonaws.com",
            error_code="AccessDeniedException",
            error_message="no",
        )
    uuid = build_automation_bug(world)
    world.event(
        DEPLOYER,
        ALERT_DAY.replace(hour=14, minute=3),
        "GetParameter",
        "ssm.amazonaws.com",
        error_code="AccessDeniedException",
        error_message="no",
    )
    world.flush()
    result = steps.enumeration(_ctx(world, uuid))
    assert result.evidence["sensitive_denied"] == 0
    assert result.evidence["sensitive_denied_before"] == 1
    assert result.verdict_signal == "neutral"
    assert "denied the same way on earlier days" in result.finding


def test_a_first_denied_secret_read_is_suspicious(world: World) -> None:
    uuid = build_automation_bug(world)
    world.event(
        DEPLOYER,
        ALERT_DAY.replace(hour=14, minute=3),
        "GetSecretValue",
        "secretsmanager.amazonaws.com",
        error_code="AccessDeniedException",
        error_message="no",
    )
    world.flush()
    result = steps.enumeration(_ctx(world, uuid))
    assert result.evidence["sensitive_denied"] == 1
    assert result.reasons == ("denied reads of secretsmanager",)
