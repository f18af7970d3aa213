"""Normal life in the demo world: the activity the models should learn as ordinary.

People work in their own time zone with quiet weekends; automation runs on steady cadences
(agents every five minutes, a collector every minute, nightly Terraform plans, weekly clean-ups,
a monthly key audit, deploys in working hours); and errors happen as they do in real estates:
throttling, NoSuchEntity, a misconfigured cron job denied every ten minutes, expired tokens,
console widgets a user may not read.

Implementation decisions: each process draws its times with numpy in one go; only loops over
days and people run in Python (a few hundred iterations). Volumes are set so the default
three-week world has about 1.1 million events; ``Span.scale`` thins or thickens the machine
traffic (agents, collector, application, AWS Config) while people, deploys, scheduled jobs and
the scenarios stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trailspike.demo.events import CALL_INDEX, ERROR_INDEX, EventBuffer, IntArray, call_ids
from trailspike.demo.world import CI_ADDRESSES, NAT_ADDRESSES, PLACES, VARIANTS

DAY = 86400
HOUR = 3600

# The natural "not found" error of a call people make (the rest only ever get denied).
_NOT_FOUND = {
    "cloudformation:DescribeStacks": "no_stack",
    "lambda:GetFunction": "no_function",
    "iam:GetRole": "no_such_role",
    "iam:GetUser": "no_such_user",
    "ec2:StopInstances": "no_instance",
    "cloudwatch:GetMetricData": "validation",
}


@dataclass(frozen=True)
class Span:
    """The world's time span: start (epoch seconds, a Monday 00:00 UTC) and length in days."""

    start: int
    days: int
    scale: float = 1.0

    @property
    def end(self) -> int:
        return self.start + self.days * DAY

    def day_start(self, day: int) -> int:
        return self.start + day * DAY

    def weekday(self, day: int) -> int:
        """0 = Monday (the world starts on a Monday)."""
        return day % 7


def ms(seconds: np.ndarray) -> IntArray:
    """Epoch seconds (float) to integer milliseconds.

    >>> ms(np.array([1.5])).tolist()
    [1500]
    """
    return np.round(np.asarray(seconds, dtype=np.float64) * 1000).astype(np.int64)


def periodic(
    rng: np.random.Generator, start: float, end: float, period: float, jitter: float
) -> np.ndarray:
    """Times every ``period`` seconds from a random phase, each shifted by a little noise."""
    times = np.arange(start + rng.uniform(0, period), end, period)
    times = times + rng.normal(0.0, jitter, len(times))
    return np.sort(np.clip(times, start, end - 1))


def generate_life(buf: EventBuffer, span: Span, rng: np.random.Generator) -> None:
    """Append three weeks (``span``) of ordinary activity to ``buf``."""
    _people(buf, span, rng)
    _agents_and_services(buf, span, rng)
    _app_and_collector(buf, span, rng)
    _deploys(buf, span, rng)
    _scheduled_jobs(buf, span, rng)


def _people(buf: EventBuffer, span: Span, rng: np.random.Generator) -> None:
    """Working-hours sessions of every person in their own time zone."""
    for p in buf.cast.values():
        if not p.is_human or p.identity == "root":
            continue
        place = PLACES[p.place]
        homes = rng.choice(len(place.addresses), size=2, replace=False)
        home_ids = buf.address_ids([place.addresses[i] for i in homes])
        calls = call_ids(p.calls)
        weights = np.asarray(p.weights) / sum(p.weights)
        denied = call_ids(p.denied) if p.denied else calls
        for day in range(span.days):
            weekend = span.weekday(day) >= 5
            n_sessions = (
                int(rng.random() < 0.06)
                if weekend
                else int(rng.random() < 0.9) * (1 + rng.poisson(1.0))
            )
            for _ in range(n_sessions):
                _session(
                    buf,
                    p.name,
                    span.day_start(day) - place.utc_offset * HOUR,
                    calls,
                    weights,
                    denied,
                    home_ids,
                    rng,
                )


def _session(
    buf: EventBuffer,
    name: str,
    local_midnight: int,
    calls: IntArray,
    weights: np.ndarray,
    denied: IntArray,
    home_ids: IntArray,
    rng: np.random.Generator,
) -> None:
    p = buf.cast[name]
    # Start mostly 08:30-17:30 local, with a lunch dip; duration 15-80 minutes.
    start_hour = rng.choice([rng.uniform(8.5, 12.0), rng.uniform(13.0, 17.5)], p=[0.55, 0.45])
    start = local_midnight + start_hour * HOUR
    duration = rng.uniform(15, 80) * 60
    ua_key = p.user_agents[int(rng.integers(len(p.user_agents)))]
    rate = 2.5 if ua_key.startswith("console") else 1.2  # calls per minute
    n = max(1, rng.poisson(rate * duration / 60))
    t = np.sort(start + rng.uniform(0, duration, n))
    chosen = rng.choice(calls, size=n, p=weights)
    variant = rng.integers(0, VARIANTS, n)
    account = np.asarray(p.accounts)[
        rng.choice(len(p.accounts), size=n, p=_acct_weights(p.accounts))
    ]
    region = np.where(rng.random(n) < 0.85, 0, 1)
    errors = np.zeros(n, dtype=np.int64)
    is_err = rng.random(n) < 0.035
    kind = rng.random(n)
    # Denied: people hit the same few walls within a session (a console page they may not
    # read, a command they retry), so each session draws a handful of denied calls on
    # given resources and its denials repeat those.
    walls = 1 + rng.poisson(0.6)
    wall = rng.integers(0, walls, n)
    wall_call = rng.choice(denied, size=walls)
    wall_variant = rng.integers(0, VARIANTS, walls)
    wall_account = account[rng.integers(0, n, walls)]
    wall_region = np.where(rng.random(walls) < 0.85, 0, 1)
    deny = is_err & (kind < 0.65)
    chosen[deny] = wall_call[wall[deny]]
    variant[deny] = wall_variant[wall[deny]]
    account[deny] = wall_account[wall[deny]]
    region[deny] = wall_region[wall[deny]]
    errors[deny] = ERROR_INDEX["denied"]
    for key, err in _NOT_FOUND.items():
        hit = is_err & (kind >= 0.65) & (chosen == CALL_INDEX[key])
        errors[hit] = ERROR_INDEX[err]
    if not ua_key.startswith("console"):
        expired = is_err & (kind >= 0.9)
        errors[expired] = ERROR_INDEX["expired"]
    ip = home_ids[int(rng.integers(len(home_ids)))]
    buf.add(
        _ms(t),
        name,
        account,
        chosen,
        region=region,
        ip=ip,
        ua=ua_key,
        error=errors,
        variant=variant,
    )


def _acct_weights(accounts: tuple[int, ...]) -> np.ndarray:
    w = np.array([0.75 if i == 0 else 0.25 for i in range(len(accounts))])
    return w / w.sum()


def _ms(t: np.ndarray) -> IntArray:
    return ms(t)


def _agents_and_services(buf: EventBuffer, span: Span, rng: np.random.Generator) -> None:
    """SSM agents, AWS Config sweeps, service role assumptions, the misconfigured cron."""
    nat = buf.address_ids(list(NAT_ADDRESSES))
    for acct, instances in ((0, 8), (1, 4), (2, 2)):
        for i in range(instances):
            t = periodic(rng, span.start, span.end, 300 / span.scale, 4)
            buf.add(
                _ms(t),
                "app-instance-role",
                acct,
                "ssm:UpdateInstanceInformation",
                ip=nat[i % len(nat)],
                variant=i % 6,
            )
        # AWS Config re-describes resources every hour in each region.
        sweep = (
            "ec2:DescribeInstances",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeVpcs",
            "ec2:DescribeVolumes",
            "s3:GetBucketPolicy",
            "s3:GetBucketAcl",
            "iam:GetRole",
            "lambda:GetFunction",
            "rds:DescribeDBInstances",
            "dynamodb:DescribeTable",
            "sns:ListTopics",
            "sqs:ListQueues",
        )
        for region in (0, 1):
            starts = periodic(rng, span.start, span.end, HOUR, 60)
            per_sweep = max(1, round(24 * span.scale))
            t = (starts[:, None] + rng.uniform(0, 90, (len(starts), per_sweep))).ravel()
            calls = rng.choice(call_ids(sweep), size=len(t))
            buf.add(
                _ms(t),
                "AWSServiceRoleForConfig",
                acct,
                calls,
                region=region,
                ip="config.amazonaws.com",
                ua="aws_internal",
            )
        t = periodic(rng, span.start, span.end, 600 / span.scale, 120)
        buf.add(
            _ms(t),
            "lambda.amazonaws.com",
            acct,
            "sts:AssumeRole",
            ip="lambda.amazonaws.com",
            ua="aws_internal",
        )
        if acct < 2:
            t = periodic(rng, span.start, span.end, 1800, 300)
            buf.add(
                _ms(t),
                "ecs-tasks.amazonaws.com",
                acct,
                "sts:AssumeRole",
                ip="ecs-tasks.amazonaws.com",
                ua="aws_internal",
            )
    # A reporting cron whose role lost ssm:GetParameter months ago: denied every ten minutes.
    t = periodic(rng, span.start, span.end, 600, 2)
    buf.add(_ms(t), "cost-report-cron", 0, "ssm:GetParameter", ip=nat[2], error="denied", variant=2)


def _app_and_collector(buf: EventBuffer, span: Span, rng: np.random.Generator) -> None:
    """The orders service decrypting its secrets, and the metrics collector every minute."""
    nat = buf.address_ids(list(NAT_ADDRESSES))
    for acct, tasks in ((0, 3), (1, 1)):
        for task in range(tasks):
            t = periodic(rng, span.start, span.end, 45 / span.scale, 5)
            calls = np.where(
                rng.random(len(t)) < 0.5,
                CALL_INDEX["kms:Decrypt"],
                CALL_INDEX["secretsmanager:GetSecretValue"],
            )
            buf.add(_ms(t), "orders-api-task", acct, calls, ip=nat[task % 2], variant=acct * 3)
    collector = call_ids(
        [
            "cloudwatch:GetMetricData",
            "cloudwatch:GetMetricData",
            "ec2:DescribeInstances",
            "rds:DescribeDBInstances",
        ]
    )
    for acct in (0, 1, 2):
        for region in (0, 1):
            starts = periodic(rng, span.start, span.end, 60 / span.scale, 1)
            t = (starts[:, None] + rng.uniform(0, 4, (len(starts), len(collector)))).ravel()
            calls = np.tile(collector, len(starts))
            # Throttling comes in short storms: a few bad minutes a day.
            minute = ((t - span.start) // 60).astype(np.int64)
            storm = (minute * 2654435761 + acct * 97 + region) % 1000 < 3
            errors = np.where(storm & (rng.random(len(t)) < 0.6), ERROR_INDEX["throttled"], 0)
            errors[(errors > 0) & (calls == CALL_INDEX["ec2:DescribeInstances"])] = ERROR_INDEX[
                "ec2_throttled"
            ]
            buf.add(
                _ms(t), "metrics-collector", acct, calls, region=region, ip=nat[3], error=errors
            )


def _deploys(buf: EventBuffer, span: Span, rng: np.random.Generator) -> None:
    """CI deploys in working hours (Europe and US), a few per weekday per account."""
    ci = buf.address_ids(list(CI_ADDRESSES))
    steps = [
        "sts:GetCallerIdentity",
        "ecr:GetAuthorizationToken",
        "ecr:DescribeImages",
        "cloudformation:DescribeStacks",
        "ecs:RegisterTaskDefinition",
        "ecs:UpdateService",
        *["ecs:DescribeServices"] * 12,
        "lambda:UpdateFunctionCode",
        "lambda:GetFunction",
        "lambda:UpdateFunctionCode",
        "lambda:GetFunction",
        "cloudformation:DescribeStackEvents",
        "cloudformation:DescribeStacks",
    ]
    plan = call_ids(steps)
    for day in range(span.days):
        if span.weekday(day) >= 5:
            continue
        for acct, mean in ((1, 6.0), (0, 3.0)):
            for _ in range(rng.poisson(mean)):
                start = span.day_start(day) + rng.uniform(8, 19) * HOUR
                t = start + np.cumsum(rng.exponential(6.0, len(plan)))
                errors = np.zeros(len(plan), dtype=np.int64)
                if rng.random() < 0.15:  # first deploy of a new stack: describe fails once
                    errors[3] = ERROR_INDEX["no_stack"]
                buf.add(
                    _ms(t),
                    "github-actions-deploy",
                    acct,
                    plan,
                    ip=ci[int(rng.integers(len(ci)))],
                    error=errors,
                    variant=int(rng.integers(6)),
                )


def _scheduled_jobs(buf: EventBuffer, span: Span, rng: np.random.Generator) -> None:
    """Nightly Terraform plans and ETL, weekly clean-ups, monthly audit, backups, root."""
    ci = buf.address_ids(list(CI_ADDRESSES))
    nat = buf.address_ids(list(NAT_ADDRESSES))
    bucket_reads = [
        "s3:GetBucketPolicy",
        "s3:GetBucketAcl",
        "s3:GetBucketLifecycle",
        "s3:GetBucketEncryption",
        "s3:GetBucketTagging",
        "s3:GetBucketLocation",
    ]
    bucket_errors = ["no_bucket_policy", "", "no_lifecycle", "no_encryption", "no_tagset", ""]
    refresh = [
        "iam:GetRole",
        "iam:ListAttachedRolePolicies",
        "lambda:GetFunction",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
        "dynamodb:DescribeTable",
        "ecs:DescribeServices",
        "kms:DescribeKey",
        "logs:DescribeLogGroups",
        "elasticloadbalancing:DescribeLoadBalancers",
        "sns:ListTopics",
        "sqs:ListQueues",
    ]
    for day in range(span.days):
        midnight = span.day_start(day)
        weekday = span.weekday(day)
        for acct in (0, 1, 2):
            # Terraform plan at 02:00: refresh every resource, read every bucket's settings.
            calls, errors, variants = [], [], []
            for v in range(6):
                for c in refresh:
                    calls.append(c)
                    errors.append("")
                    variants.append(v)
                for c, e in zip(bucket_reads, bucket_errors, strict=True):
                    calls.append(c)
                    errors.append(e if (v + acct) % 3 else "")
                    variants.append(v)
            t = midnight + 2 * HOUR + acct * 300 + np.cumsum(rng.exponential(1.5, len(calls)))
            buf.add(
                _ms(t),
                "terraform-ci",
                acct,
                call_ids(calls),
                ip=ci[acct],
                error=np.array([ERROR_INDEX[e] for e in errors]),
                variant=np.array(variants),
            )
        # ETL every hour in prod: read catalog, decrypt warehouse credentials, then start its
        # worker instance (at a fixed offset: no draw, so the rest of the world is unchanged).
        for hour in range(24):
            t = midnight + hour * HOUR + 5 * 60 + np.cumsum(rng.exponential(2.0, 6))
            buf.add(
                _ms(t),
                "etl-batch-job",
                0,
                call_ids(
                    [
                        "glue:GetDatabases",
                        "glue:GetTable",
                        "kms:Decrypt",
                        "secretsmanager:GetSecretValue",
                        "glue:GetTable",
                        "s3:GetBucketLocation",
                    ]
                ),
                ip=nat[4],
                variant=5,
            )
            buf.add(
                _ms(t[-1:] + 20.0), "etl-batch-job", 0, "ec2:StartInstances", ip=nat[4], variant=5
            )
        t = midnight + 1 * HOUR + np.cumsum(rng.exponential(20.0, 6))
        buf.add(
            _ms(t),
            "AWSBackupDefaultServiceRole",
            0,
            "backup:StartBackupJob",
            ip="backup.amazonaws.com",
            variant=np.arange(6),
        )
        if weekday == 6:  # Sunday 04:00: deregister old AMIs and their snapshots
            for acct in (0, 1):
                calls = ["ec2:DescribeImages", "ec2:DescribeSnapshots"] + [
                    "ec2:DeregisterImage",
                    "ec2:DeleteSnapshot",
                ] * 4
                t = midnight + 4 * HOUR + np.cumsum(rng.exponential(3.0, len(calls)))
                buf.add(_ms(t), "ami-cleanup", acct, call_ids(calls), ip=nat[5])
        if weekday == 0:  # Monday 05:00: enforce log retention
            for acct in (0, 1, 2):
                calls = ["logs:DescribeLogGroups"] + ["logs:PutRetentionPolicy"] * 6
                t = midnight + 5 * HOUR + np.cumsum(rng.exponential(2.0, len(calls)))
                buf.add(
                    _ms(t),
                    "log-retention",
                    acct,
                    call_ids(calls),
                    ip=nat[5],
                    variant=np.arange(len(calls)) % 6,
                )
        if _day_of_month(span, day) == 1:
            _monthly_audit(buf, midnight, rng, nat[1])
        if day == min(2, span.days - 1):  # the root user signs in once to look at the bill
            t = midnight + 17 * HOUR + 30 * 60 + np.array([0.0, 40.0, 95.0, 160.0])
            buf.add(
                _ms(t),
                "root",
                2,
                call_ids(
                    [
                        "signin:ConsoleLogin",
                        "ce:GetCostAndUsage",
                        "ce:GetCostAndUsage",
                        "ce:GetCostAndUsage",
                    ]
                ),
                ip=PLACES["milton"].addresses[3],
                ua="console_win",
            )


def _day_of_month(span: Span, day: int) -> int:
    return int(np.datetime64(span.day_start(day), "s").astype("datetime64[D]").item().day)


def _monthly_audit(buf: EventBuffer, midnight: int, rng: np.random.Generator, ip: int) -> None:
    """First of the month, 06:00: credential report and access-key review in every account."""
    for acct in (2, 0, 1):
        calls = [
            "iam:GenerateCredentialReport",
            "iam:GetCredentialReport",
            "iam:GetCredentialReport",
            "iam:GetCredentialReport",
            "iam:ListUsers",
        ]
        errors = ["", "report_in_progress", "report_in_progress", "", ""]
        for v in range(6):
            calls += ["iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:GetLoginProfile"]
            errors += ["", "", "no_login_profile" if v >= 3 else ""]
        t = midnight + 6 * HOUR + acct * 120 + np.cumsum(rng.exponential(1.0, len(calls)))
        variants = np.array([0] * 5 + [v for v in range(6) for _ in range(3)])
        buf.add(
            _ms(t),
            "iam-key-audit",
            acct,
            call_ids(calls),
            ip=ip,
            ua="boto3",
            error=np.array([ERROR_INDEX[e] for e in errors]),
            variant=variants,
        )
