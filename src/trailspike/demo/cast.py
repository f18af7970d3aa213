"""Who lives in the demo world: about thirty principals across the three accounts.

People work in their own time zone and use their own small set of services (a platform engineer
describes instances, an analyst queries Athena); each also has calls they are habitually denied
(the console's home page asks for cost data, a developer pokes at IAM). Automation roles, AWS
services and one root user complete the cast. The names are referred to by
:mod:`trailspike.demo.life` and :mod:`trailspike.demo.attacks`.

Implementation decisions: repertoires are weighted with a Zipf-like law (a few calls dominate, as
in real trails), so "rare for this user" has a real tail to learn.
"""

from __future__ import annotations

from trailspike.demo.world import Principal

_PLATFORM = (
    "ec2:DescribeInstances",
    "ec2:DescribeSecurityGroups",
    "ecs:DescribeServices",
    "ecs:ListTasks",
    "elasticloadbalancing:DescribeTargetHealth",
    "autoscaling:DescribeAutoScalingGroups",
    "cloudwatch:GetMetricData",
    "cloudwatch:DescribeAlarms",
    "logs:FilterLogEvents",
    "logs:DescribeLogGroups",
    "cloudformation:DescribeStacks",
    "ec2:DescribeVpcs",
    "ec2:StopInstances",
    "ec2:StartInstances",
)
_DEV = (
    "lambda:GetFunction",
    "logs:FilterLogEvents",
    "lambda:ListFunctions",
    "dynamodb:DescribeTable",
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "ecs:DescribeServices",
    "ecr:DescribeImages",
    "apigateway:GetRestApis",
    "s3:ListBuckets",
    "dynamodb:ListTables",
    "codebuild:BatchGetBuilds",
    "logs:DescribeLogGroups",
    "sts:GetCallerIdentity",
)
_DATA = (
    "athena:StartQueryExecution",
    "athena:GetQueryResults",
    "glue:GetTable",
    "glue:GetDatabases",
    "s3:ListBuckets",
    "s3:GetBucketLocation",
    "dynamodb:DescribeTable",
    "logs:FilterLogEvents",
)
_SECURITY = (
    "guardduty:ListFindings",
    "securityhub:GetFindings",
    "cloudtrail:LookupEvents",
    "iam:GetRole",
    "iam:ListAttachedRolePolicies",
    "iam:ListUsers",
    "iam:ListRoles",
    "config:DescribeConfigRules",
    "cloudtrail:DescribeTrails",
    "kms:DescribeKey",
    "guardduty:ListDetectors",
    "iam:GetUser",
    "s3:GetBucketPolicy",
)
_FINANCE = (
    "ce:GetCostAndUsage",
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "s3:ListBuckets",
)
_DB = (
    "rds:DescribeDBInstances",
    "rds:DescribeDBSnapshots",
    "cloudwatch:GetMetricData",
    "dynamodb:DescribeTable",
    "dynamodb:ListTables",
    "logs:FilterLogEvents",
    "secretsmanager:DescribeSecret",
)

# Calls people are habitually denied (console widgets, a stray CLI command).
_DENIED_DEV = (
    "iam:ListRoles",
    "iam:GetRole",
    "ce:GetCostAndUsage",
    "secretsmanager:GetSecretValue",
    "rds:DescribeDBInstances",
    "ec2:DescribeVpcs",
    "kms:DescribeKey",
)
_DENIED_DATA = (
    "ce:GetCostAndUsage",
    "iam:ListRoles",
    "ec2:DescribeInstances",
    "lambda:ListFunctions",
    "kms:DescribeKey",
)
_DENIED_OPS = (
    "ce:GetCostAndUsage",
    "iam:ListUsers",
    "organizations:DescribeOrganization",
    "secretsmanager:GetSecretValue",
)
_DENIED_SEC = ("ce:GetCostAndUsage", "ec2:StopInstances", "s3:GetBucketPolicy")


def _zipf(n: int) -> tuple[float, ...]:
    """Zipf weights 1/k for ``n`` calls.

    >>> _zipf(3)
    (1.0, 0.5, 0.333...)
    """
    return tuple(1.0 / k for k in range(1, n + 1))


def _person(
    seed: int,
    name: str,
    identity: str,
    accounts: tuple[int, ...],
    place: str,
    calls: tuple[str, ...],
    denied: tuple[str, ...],
    agents: tuple[str, ...],
    role: str = "",
) -> Principal:
    return Principal(
        name=name,
        identity=identity,
        accounts=accounts,
        role_name=role,
        session_name=f"{name}@example.com",
        place=place,
        calls=calls,
        weights=_zipf(len(calls)),
        denied=denied,
        user_agents=agents,
        seed=seed,
    )


def _bot(
    seed: int,
    name: str,
    accounts: tuple[int, ...],
    session: str,
    agents: tuple[str, ...],
    invoked_by: str = "",
    identity: str = "role",
) -> Principal:
    return Principal(
        name=name,
        identity=identity,
        accounts=accounts,
        role_name=name,
        session_name=session,
        user_agents=agents,
        invoked_by=invoked_by,
        seed=seed,
    )


SSO_DEV = "AWSReservedSSO_DeveloperAccess_3f2a9c1b7d5e4f60"
SSO_OPS = "AWSReservedSSO_PlatformOps_8c7b6a5d4e3f2a10"
SSO_SEC = "AWSReservedSSO_SecurityAudit_1a2b3c4d5e6f7081"
SSO_ADMIN = "AWSReservedSSO_BillingAdmin_9e8d7c6b5a4f3e20"
SSO_DATA = "AWSReservedSSO_DataAnalyst_4d5e6f7a8b9c0d1e"


def build_cast(seed: int) -> dict[str, Principal]:
    """Every principal of the world, by name (deterministic for a seed)."""
    web = ("console", "console_win", "console_ff")
    people = [
        _person(
            seed,
            "alice",
            "sso",
            (0, 1),
            "london",
            _PLATFORM,
            _DENIED_OPS,
            (web[0], "cli_mac"),
            SSO_OPS,
        ),
        _person(
            seed, "grace", "sso", (0, 1), "san_diego", _PLATFORM, _DENIED_OPS, (web[1],), SSO_OPS
        ),
        _person(
            seed,
            "oscar",
            "sso",
            (0, 1),
            "linkoping",
            _PLATFORM,
            _DENIED_OPS,
            (web[2], "cli_linux"),
            SSO_OPS,
        ),
        _person(
            seed, "dave", "sso", (1, 0), "milton", _DEV, _DENIED_DEV, (web[0], "cli_mac"), SSO_DEV
        ),
        _person(
            seed,
            "frank",
            "sso",
            (1, 0),
            "linkoping",
            _DEV,
            _DENIED_DEV,
            (web[2], "cli_linux"),
            SSO_DEV,
        ),
        _person(seed, "ken", "sso", (1, 0), "san_diego", _DEV, _DENIED_DEV, (web[0],), SSO_DEV),
        _person(
            seed, "mike", "sso", (1,), "milton", _DEV, _DENIED_DEV, (web[1], "cli_mac"), SSO_DEV
        ),
        _person(seed, "lena", "sso", (0,), "london", _DATA, _DENIED_DATA, (web[0],), SSO_DATA),
        _person(
            seed,
            "ivan",
            "sso",
            (0, 1),
            "linkoping",
            _DB,
            _DENIED_DEV,
            (web[2], "cli_linux"),
            SSO_OPS,
        ),
        _person(
            seed, "carol", "sso", (2, 0, 1), "linkoping", _SECURITY, _DENIED_SEC, (web[0],), SSO_SEC
        ),
        _person(seed, "nina", "iam_user", (2,), "london", _SECURITY, _DENIED_SEC, ("cli_mac",)),
        _person(
            seed,
            "judy",
            "sso",
            (2, 0),
            "milton",
            _FINANCE,
            ("iam:ListUsers", "ec2:DescribeInstances"),
            (web[1],),
            SSO_ADMIN,
        ),
        # Legacy IAM users with long-term access keys.
        _person(seed, "bob", "iam_user", (0,), "san_diego", _DEV[:10], _DENIED_DEV, ("cli_mac",)),
        _person(
            seed, "erin", "iam_user", (0,), "london", _DATA, _DENIED_DATA, ("console", "cli_mac")
        ),
        _person(seed, "heidi", "iam_user", (1,), "london", _DEV[3:], _DENIED_DEV, ("cli_linux",)),
    ]
    people.append(
        Principal(
            name="root",
            identity="root",
            accounts=(2,),
            place="milton",
            calls=("signin:ConsoleLogin", "ce:GetCostAndUsage"),
            weights=(1.0, 1.0),
            user_agents=("console_win",),
            seed=seed,
        )
    )
    bots = [
        _bot(seed, "app-instance-role", (0, 1, 2), "$instance", ("ssm_agent",)),
        _bot(seed, "orders-api-task", (0, 1), "*", ("java_sdk",)),
        _bot(seed, "metrics-collector", (0, 1, 2), "metrics-collector", ("boto3",)),
        _bot(
            seed,
            "AWSServiceRoleForConfig",
            (0, 1, 2),
            "AWSConfig-Describe",
            ("aws_internal",),
            invoked_by="config.amazonaws.com",
        ),
        _bot(seed, "github-actions-deploy", (0, 1), "GitHubActions", ("ci_cli",)),
        _bot(seed, "terraform-ci", (0, 1, 2), "terraform-run-*", ("terraform",)),
        _bot(seed, "cost-report-cron", (0,), "cost-report", ("boto3",)),
        _bot(seed, "etl-batch-job", (0,), "etl-batch", ("go_sdk",)),
        _bot(seed, "ami-cleanup", (0, 1), "ami-cleanup", ("boto3",)),
        _bot(seed, "log-retention", (0, 1, 2), "log-retention", ("boto3",)),
        _bot(seed, "iam-key-audit", (2, 0, 1), "iam-key-audit", ("boto3",)),
        _bot(
            seed,
            "AWSBackupDefaultServiceRole",
            (0,),
            "AWSBackup-default",
            ("aws_internal",),
            invoked_by="backup.amazonaws.com",
        ),
        _bot(seed, "lambda.amazonaws.com", (0, 1, 2), "", ("aws_internal",), identity="service"),
        _bot(seed, "ecs-tasks.amazonaws.com", (0, 1), "", ("aws_internal",), identity="service"),
    ]
    return {p.name: p for p in people + bots}
