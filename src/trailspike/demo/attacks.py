"""The five labelled scenarios of issue 5, written into the world with their labels.

1. A stolen long-term access key used from a new country for discovery across many services
   and regions: a burst of many distinct AccessDenied / UnauthorizedOperation messages.
2. Privilege-escalation attempts by an application role (CreatePolicyVersion, AttachUserPolicy,
   PassRole denied, AssumeRole of an admin role).
3. A user running API methods they never used (secrets, keys, bucket policy), from a new city.
4. Benign: an automation bug after a deploy repeats one error thousands of times.
5. Benign: a team adopts Step Functions, with its early permission errors.

Each scenario appends its events to the buffer and returns a label for ``scenarios.json``:
name, start, end, principals (ARNs), accounts, malicious or benign, the jobs and rules meant to
catch it, and for benign ones the jobs that must stay quiet.

Implementation decisions: scenarios sit at fixed offsets from the end of the world (three and
twelve days before) so the models have learnt normal life first; in short test worlds they are
clamped to the first day. Which calls an attacker is denied follows from the victim's own
repertoire (what the victim's policy evidently allows), not from a list tuned to a detector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trailspike.demo.events import CALL_INDEX, ERROR_INDEX, EventBuffer, call_ids
from trailspike.demo.life import DAY, HOUR, Span, ms
from trailspike.demo.world import ACCOUNTS, CI_ADDRESSES, NAT_ADDRESSES, PLACES, Principal

SPIKE_JOB = "high_distinct_count_error_message"
SPIKE_RULE = "Spike in AWS Error Messages"
USER_JOBS = ("rare_method_for_a_user_id_ea", "rare_method_for_a_username")
USER_RULE = "Unusual AWS Command for a User"
COUNTRY_JOB, COUNTRY_RULE = "rare_method_for_a_country", "Unusual Country For an AWS Command"
CITY_JOB, CITY_RULE = "rare_method_for_a_city", "Unusual City For an AWS Command"
ERROR_CODE_JOB, ERROR_CODE_RULE = "rare_error_code", "Rare AWS Error Code"

_DISCOVERY_REGIONAL = (
    "ec2:DescribeInstances",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
    "ec2:DescribeSnapshots",
    "ec2:DescribeImages",
    "rds:DescribeDBInstances",
    "secretsmanager:ListSecrets",
    "ssm:DescribeParameters",
    "kms:ListKeys",
    "sns:ListTopics",
    "sqs:ListQueues",
    "guardduty:ListDetectors",
    "cloudtrail:DescribeTrails",
    "lambda:ListFunctions",
    "dynamodb:ListTables",
    "ecs:ListTasks",
    "logs:DescribeLogGroups",
    "elasticloadbalancing:DescribeLoadBalancers",
)
_DISCOVERY_GLOBAL = (
    "sts:GetCallerIdentity",
    "iam:GetUser",
    "iam:ListAccessKeys",
    "iam:ListGroupsForUser",
    "iam:ListUsers",
    "iam:ListRoles",
    "iam:ListPolicies",
    "iam:GetAccountAuthorizationDetails",
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "s3:ListBuckets",
    "ec2:DescribeRegions",
)
_COLLECTION = (
    "secretsmanager:GetSecretValue",
    "ssm:GetParameters",
    "s3:GetBucketPolicy",
    "kms:DescribeKey",
    "dynamodb:DescribeTable",
    "lambda:GetFunction",
)


def _iso(seconds: float) -> str:
    return str(np.datetime64(int(seconds), "s")) + "Z"


def _label(
    num: int,
    name: str,
    title: str,
    malicious: bool,
    t: np.ndarray,
    principals: list[str],
    accounts: list[int],
    jobs: list[str],
    rules: list[str],
    must_not: list[str] | None = None,
) -> dict[str, Any]:
    start, end = float(t.min()), float(t.max()) + 1
    return {
        "id": num,
        "name": name,
        "title": title,
        "malicious": malicious,
        "start": _iso(start),
        "end": _iso(end),
        "principals": principals,
        "accounts": [ACCOUNTS[a].id for a in accounts],
        "expected_jobs": jobs,
        "expected_rules": rules,
        "must_not_alert_jobs": must_not or [],
        "events": len(t),
    }


def _outcome(p: Principal, calls: np.ndarray) -> np.ndarray:
    """Error kind per call: denied unless the victim's policy evidently allows the call."""
    allowed = set(call_ids(p.calls).tolist())
    return np.array([0 if c in allowed else ERROR_INDEX["denied"] for c in calls.tolist()])


def _day(span: Span, back: int) -> int:
    return span.start + max(0, span.days - back) * DAY


def stolen_key_discovery(buf: EventBuffer, span: Span, rng: np.random.Generator) -> dict[str, Any]:
    """Scenario 1: bob's access key, used from Changchun at night, enumerates everything."""
    bob = buf.cast["bob"]
    ips = buf.address_ids(list(PLACES["changchun"].addresses[40:42]))
    start = _day(span, 5) + 3 * HOUR + 12 * 60
    # Wave 1: who am I, then every regional List/Describe in four regions, then IAM/org.
    calls = list(_DISCOVERY_GLOBAL[:4])
    regions = [0] * 4
    for region in range(4):
        calls += _DISCOVERY_REGIONAL
        regions += [region] * len(_DISCOVERY_REGIONAL)
    calls += _DISCOVERY_GLOBAL[4:]
    regions += [0] * len(_DISCOVERY_GLOBAL[4:])
    # Wave 2, half an hour later: try to read the secrets and data found.
    wave2 = [c for c in _COLLECTION for _ in range(6)]
    t1 = start + np.cumsum(rng.exponential(9.0, len(calls)))
    t2 = start + 32 * 60 + np.cumsum(rng.exponential(12.0, len(wave2)))
    ids = call_ids(calls + wave2)
    t = np.concatenate([t1, t2])
    variants = np.concatenate(
        [rng.integers(0, 6, len(calls)), np.tile(np.arange(6), len(_COLLECTION))]
    )
    ip = np.where(np.arange(len(t)) < len(calls), ips[0], ips[1])
    buf.add(
        ms(t),
        "bob",
        0,
        ids,
        region=np.array(regions + [0] * len(wave2)),
        ip=ip,
        ua="attacker",
        error=_outcome(bob, ids),
        variant=variants,
    )
    return _label(
        1,
        "stolen-access-key-discovery",
        "Stolen access key used from a new country for discovery across services",
        True,
        t,
        [bob.arn(ACCOUNTS[0].id)],
        [0],
        [SPIKE_JOB, COUNTRY_JOB, CITY_JOB, *USER_JOBS, ERROR_CODE_JOB],
        [SPIKE_RULE, COUNTRY_RULE, CITY_RULE, USER_RULE, ERROR_CODE_RULE],
    )


def privilege_escalation(buf: EventBuffer, span: Span, rng: np.random.Generator) -> dict[str, Any]:
    """Scenario 2: the orders service's task role, hijacked, tries to make itself admin."""
    day_start = _day(span, 4)
    start = day_start + 14 * HOUR + 5 * 60
    steps: list[tuple[str, str, int]] = [
        ("sts:GetCallerIdentity", "", 0),
        ("iam:GetRole", "denied", 0),
        ("iam:ListAttachedRolePolicies", "denied", 0),
        ("iam:ListPolicies", "denied", 0),
        ("iam:CreatePolicyVersion", "denied", 0),
        ("iam:CreatePolicyVersion", "denied", 3),
        ("iam:AttachRolePolicy", "denied", 0),
        ("iam:PutRolePolicy", "denied", 0),
        ("iam:AttachUserPolicy", "denied", 4),
        ("iam:CreateAccessKey", "denied", 5),
        ("iam:CreateLoginProfile", "denied", 5),
        ("iam:UpdateAssumeRolePolicy", "denied", 4),
        ("lambda:CreateFunction", "passrole", 5),
        ("lambda:CreateFunction", "passrole", 4),
        ("ec2:RunInstances", "passrole", 5),
        ("sts:AssumeRole", "assume_denied", 4),
        ("sts:AssumeRole", "assume_denied", 5),
        ("iam:AttachRolePolicy", "denied", 1),
        ("iam:CreatePolicyVersion", "denied", 1),
        ("iam:PutRolePolicy", "denied", 3),
    ]
    calls = call_ids([s[0] for s in steps])
    errors = np.array([ERROR_INDEX[s[1]] for s in steps])
    t = start + np.cumsum(rng.exponential(70.0, len(steps)))
    nat = buf.address_ids(NAT_ADDRESSES[0])
    buf.add(
        ms(t),
        "orders-api-task",
        0,
        calls,
        ip=nat,
        ua="attacker_py",
        error=errors,
        variant=np.array([s[2] for s in steps]),
    )
    role = buf.cast["orders-api-task"]
    name_key = int((day_start - 0) // DAY)
    return _label(
        2,
        "privilege-escalation-attempts",
        "Privilege-escalation attempts by an application role",
        True,
        t,
        [role.arn(ACCOUNTS[0].id, name_key)],
        [0],
        [*USER_JOBS, SPIKE_JOB, ERROR_CODE_JOB],
        [USER_RULE, SPIKE_RULE, ERROR_CODE_RULE],
    )


def new_methods_new_city(buf: EventBuffer, span: Span, rng: np.random.Generator) -> dict[str, Any]:
    """Scenario 3: erin's credentials, from Boxford, reach for secrets, keys and bucket policy."""
    erin = buf.cast["erin"]
    start = _day(span, 3) + 13 * HOUR + 22 * 60
    steps = [
        "sts:GetCallerIdentity",
        "iam:ListUsers",
        "iam:ListRoles",
        "secretsmanager:ListSecrets",
        *["secretsmanager:GetSecretValue"] * 4,
        "ssm:DescribeParameters",
        *["ssm:GetParameters"] * 3,
        "kms:ListKeys",
        *["kms:DescribeKey"] * 2,
        *["s3:GetBucketPolicy"] * 3,
        "s3:PutBucketPolicy",
        "iam:ListAccessKeys",
        "iam:CreateAccessKey",
        "ec2:DescribeInstances",
        "dynamodb:ListTables",
        "lambda:ListFunctions",
    ]
    calls = call_ids(steps)
    denied = set(call_ids(erin.denied).tolist())
    errors = np.array([ERROR_INDEX["denied"] if c in denied else 0 for c in calls.tolist()])
    t = start + np.cumsum(rng.exponential(110.0, len(steps)))
    ip = buf.address_ids(PLACES["boxford"].addresses[2])
    variants = np.array([1 if s == "iam:CreateAccessKey" else int(rng.integers(6)) for s in steps])
    buf.add(ms(t), "erin", 0, calls, ip=ip, ua="cli_linux", error=errors, variant=variants)
    return _label(
        3,
        "new-methods-from-new-city",
        "User runs API methods they never used, from a new city",
        True,
        t,
        [erin.arn(ACCOUNTS[0].id)],
        [0],
        [*USER_JOBS, CITY_JOB],
        [USER_RULE, CITY_RULE],
    )


def automation_bug(buf: EventBuffer, span: Span, rng: np.random.Generator) -> dict[str, Any]:
    """Scenario 4 (benign): after a deploy the ETL job retries one denied call for hours.

    The deploy dropped ``ec2:StartInstances`` from its role, and it retries starting its worker
    instance. EC2 writes a fresh encoded authorization message into each denial: counted raw,
    that is hundreds of distinct messages a bucket (Elastic's job alerts); by wording, one.
    """
    day_start = _day(span, 12)
    deploy = day_start + 10 * HOUR + 14 * 60
    ci = buf.address_ids(CI_ADDRESSES[7])
    plan = call_ids(["sts:GetCallerIdentity", "lambda:UpdateFunctionCode", "lambda:GetFunction"])
    buf.add(
        ms(deploy + np.array([0.0, 4.0, 9.0])), "github-actions-deploy", 0, plan, ip=ci, variant=3
    )
    start, end = deploy + 6 * 60, deploy + 4 * HOUR + 15 * 60
    n = int((end - start) / 60 * 26)
    t = np.sort(rng.uniform(start, end, n))
    nat = buf.address_ids(NAT_ADDRESSES[4])
    buf.add(ms(t), "etl-batch-job", 0, "ec2:StartInstances", ip=nat, error="denied", variant=5)
    role = buf.cast["etl-batch-job"]
    return _label(
        4,
        "automation-bug-repeated-error",
        "Benign: automation bug repeats one error thousands of times",
        False,
        t,
        [role.arn(ACCOUNTS[0].id)],
        [0],
        [],
        [],
        [SPIKE_JOB],
    )


def service_adoption(buf: EventBuffer, span: Span, rng: np.random.Generator) -> dict[str, Any]:
    """Scenario 5 (benign): three developers start using Step Functions in staging."""
    day_start = _day(span, 11)
    fixed = day_start + 19 * HOUR  # the permission set is updated that evening
    team = {"frank": 8.5, "dave": 16.8, "ken": 17.5}  # first session start, hours UTC
    sfn = call_ids(
        [
            "states:ListStateMachines",
            "states:CreateStateMachine",
            "states:DescribeStateMachine",
            "states:StartExecution",
            "states:ListExecutions",
        ]
    )
    all_t: list[np.ndarray] = []
    arns: list[str] = []
    for name, first in team.items():
        p = buf.cast[name]
        ip = buf.address_ids(PLACES[p.place].addresses[5])
        arns.append(p.arn(ACCOUNTS[1].id))
        for day_offset in (0, 1):
            for session in range(2):
                start = day_start + day_offset * DAY + (first + session * 3.5) * HOUR
                n = int(rng.integers(25, 45))
                t = np.sort(start + rng.uniform(0, 55 * 60, n))
                calls = rng.choice(sfn, size=n, p=[0.3, 0.2, 0.2, 0.2, 0.1])
                errors = np.zeros(n, dtype=np.int64)
                before = t < fixed
                errors[before & (rng.random(n) < 0.55)] = ERROR_INDEX["denied"]
                # Until the execution role is allowed, creating a machine fails on PassRole.
                create = calls == CALL_INDEX["states:CreateStateMachine"]
                errors[create & ~before & (t < fixed + 18 * HOUR)] = ERROR_INDEX["passrole"]
                buf.add(
                    ms(t),
                    name,
                    1,
                    calls,
                    ip=ip,
                    ua=p.user_agents[0],
                    error=errors,
                    variant=np.where(rng.random(n) < 0.7, 0, 1),
                )
                all_t.append(t)
    t_all = np.concatenate(all_t)
    return _label(
        5,
        "new-service-adoption",
        "Benign: a team adopts Step Functions, with early permission errors",
        False,
        t_all,
        arns,
        [1],
        [],
        [],
        [SPIKE_JOB],
    )


def generate_scenarios(
    buf: EventBuffer, span: Span, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Append all five scenarios; return their labels in scenario order."""
    return [
        stolen_key_discovery(buf, span, rng),
        privilege_escalation(buf, span, rng),
        new_methods_new_city(buf, span, rng),
        automation_bug(buf, span, rng),
        service_adoption(buf, span, rng),
    ]
