"""Small constructed stores for the triage tests: events, anomaly records and their alerts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

SPIKE_RULE = "78d3d8d9-b476-451d-a9e0-7a5addd70670"
SPIKE_JOB = "high_distinct_count_error_message"
COUNTRY_RULE = "dca28dee-c999-400f-b640-50a081cc0fd1"
THREAT = [
    {
        "framework": "MITRE ATT&CK",
        "tactic": {"id": "TA0007", "name": "Discovery"},
        "technique": [
            {"id": "T1526", "name": "Cloud Service Discovery"},
            {"id": "T1580", "name": "Cloud Infrastructure Discovery"},
        ],
    },
    {"framework": "MITRE ATT&CK", "tactic": {"id": "TA0004", "name": "Privilege Escalation"}},
]

EVENT_COLUMNS = (
    "event_id",
    "ts",
    "event_action",
    "event_provider",
    "event_outcome",
    "error_code",
    "error_message",
    "user_identity_arn",
    "user_identity_type",
    "user_identity_access_key_id",
    "user_name",
    "source_ip",
    "source_geo_city_name",
    "source_geo_country_iso_code",
    "source_as_number",
    "source_as_organization_name",
    "cloud_account_id",
    "cloud_region",
    "user_agent",
    "request_parameters",
    "doc",
    "ingested_at",
)


@dataclass
class Who:
    """A principal and where it calls from."""

    arn: str
    key: str
    user: str
    ip: str
    city: str
    country: str
    agent: str
    kind: str = "IAMUser"
    asn: int = 64500
    org: str = "Example ISP"


ALICE = Who(
    "arn:aws:iam::111111111111:user/alice",
    "AKIAALICE0000001",
    "alice",
    "198.51.100.10",
    "Dublin",
    "IE",
    "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu",
)
DEPLOYER = Who(
    "arn:aws:sts::111111111111:assumed-role/ci-deployer/build-42",
    "ASIADEPLOYER00001",
    "ci-deployer",
    "3.5.140.2",
    "Seoul",
    "KR",
    "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux exec-env/GitHubActions",
    kind="AssumedRole",
    asn=16509,
    org="AMAZON-02",
)


@dataclass
class World:
    """Builder for a store's events, records and alerts."""

    con: duckdb.DuckDBPyConnection
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    counter: int = 0

    def event(
        self,
        who: Who,
        ts: datetime,
        action: str,
        provider: str = "s3.amazonaws.com",
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        params: dict[str, Any] | None = None,
        ip: str | None = None,
        country: str | None = None,
        city: str | None = None,
        agent: str | None = None,
        account: str = "111111111111",
    ) -> None:
        self.counter += 1
        self.rows.append(
            (
                f"ev-{self.counter:08d}",
                ts,
                action,
                provider,
                "failure" if error_code else "success",
                error_code,
                error_message,
                who.arn,
                who.kind,
                who.key,
                who.user,
                ip or who.ip,
                city or who.city,
                country or who.country,
                who.asn,
                who.org,
                account,
                "eu-west-1",
                agent or who.agent,
                json.dumps(params) if params is not None else None,
                "{}",
                ts,
            )
        )

    def many(self, who: Who, times: Iterable[datetime], action: str, provider: str, **kw: Any):
        for ts in times:
            self.event(who, ts, action, provider, **kw)

    def flush(self) -> None:
        """Insert the pending events in one statement (row-at-a-time inserts are slow)."""
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        table = pa.table(
            {name: pa.array(values) for name, values in zip(EVENT_COLUMNS, columns, strict=True)}
        )
        self.con.register("pending_events", table)
        self.con.execute(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM pending_events"
        )
        self.con.unregister("pending_events")
        self.rows.clear()

    def alert(
        self,
        bucket: datetime,
        *,
        arns: list[str],
        ips: list[str],
        rule_id: str = SPIKE_RULE,
        rule_name: str = "Spike in AWS Error Messages",
        job_id: str = SPIKE_JOB,
        span: int = 900,
        function: str = "high_distinct_count",
        field_name: str | None = "aws.cloudtrail.error_message",
        by_field_name: str | None = None,
        by_field_value: str | None = None,
        extra_doc: dict[str, Any] | None = None,
        actual: float = 40.0,
        typical: float = 2.0,
    ) -> str:
        """Insert a record and its alert; return the alert uuid."""
        self.flush()
        record_id = f"{job_id}_record_{int(bucket.timestamp() * 1000)}_{span}_0_{rule_id[:4]}"
        influencers = [
            {
                "influencer_field_name": "aws.cloudtrail.user_identity.arn",
                "influencer_field_values": arns,
            },
            {"influencer_field_name": "source.ip", "influencer_field_values": ips},
        ]
        self.con.execute(
            "INSERT INTO records (record_id, job_id, timestamp, bucket_span, detector_index, "
            "function, function_description, field_name, by_field_name, by_field_value, "
            "probability, record_score, initial_record_score, typical, actual, influencers, "
            "created_at) "
            "VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, 1e-6, 80, 80, ?, ?, ?, ?)",
            [
                record_id,
                job_id,
                bucket,
                span,
                function,
                function,
                field_name,
                by_field_name,
                by_field_value,
                typical,
                actual,
                json.dumps(influencers),
                bucket,
            ],
        )
        uuid = hashlib.sha256((record_id + rule_id).encode()).hexdigest()
        doc: dict[str, Any] = {
            "job_id": job_id,
            "record_score": 80,
            "influencers": influencers,
            "aws": {"cloudtrail": {"user_identity": {"arn": arns}}},
            "source": {"ip": ips},
            "kibana.alert.rule.threat": THREAT,
            "kibana.alert.uuid": uuid,
        }
        doc.update(extra_doc or {})
        self.con.execute(
            "INSERT INTO alerts (alert_uuid, rule_id, rule_name, record_id, job_id, original_time, "
            "created_at, severity, risk_score, record_score, reason, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'low', 21, 80, ?, ?)",
            [
                uuid,
                rule_id,
                rule_name,
                record_id,
                job_id,
                bucket,
                bucket + timedelta(minutes=20),
                f"event with source {', '.join(ips)}, created low alert {rule_name}.",
                json.dumps(doc),
            ],
        )
        return uuid


def hourly(start: datetime, days: int, hours: Iterable[int], weekdays_only: bool = False):
    """Timestamps at the given hours of each day (minute 7)."""
    hour_list = list(hours)
    for d in range(days):
        day = start + timedelta(days=d)
        if weekdays_only and day.weekday() >= 5:
            continue
        for h in hour_list:
            yield day.replace(hour=h, minute=7, second=0)


# --- two whole scenarios ---------------------------------------------------------------------

HISTORY_START = datetime(2026, 3, 1)
ALERT_DAY = datetime(2026, 3, 31)  # a Tuesday
SERVICES = (
    "ec2",
    "iam",
    "s3",
    "secretsmanager",
    "ssm",
    "kms",
    "lambda",
    "rds",
    "dynamodb",
    "cloudtrail",
    "sns",
    "sqs",
)
READ_CALLS = ("List", "Describe", "Get", "BatchGet")


def build_attack(world: World, *, hour: int = 2) -> str:
    """Alice's key used from a new country at night for 40 distinct denied reads."""
    for ts in hourly(HISTORY_START, 30, range(8, 18), weekdays_only=True):
        world.event(ALICE, ts, "ListBuckets", "s3.amazonaws.com")
        world.event(ALICE, ts + timedelta(minutes=3), "DescribeInstances", "ec2.amazonaws.com")
    bucket = ALERT_DAY.replace(hour=hour)
    for i in range(40):
        svc = SERVICES[i % len(SERVICES)]
        action = f"{READ_CALLS[i % 4]}Thing{i}"
        world.event(
            ALICE,
            bucket + timedelta(seconds=15 * i),
            action,
            f"{svc}.amazonaws.com",
            error_code="AccessDenied",
            error_message=f"User: {ALICE.arn} is not authorized to perform: {svc}:{action} "
            f"on resource: arn:aws:{svc}:eu-west-1:111111111111:thing/{i}",
            params={"name": f"thing-{i}"},
            ip="203.0.113.50",
            country="RU",
            city="Moscow",
        )
    world.event(
        ALICE,
        bucket + timedelta(minutes=11),
        "GetSecretValue",
        "secretsmanager.amazonaws.com",
        error_code="AccessDeniedException",
        error_message=f"User: {ALICE.arn} is not authorized to perform: "
        "secretsmanager:GetSecretValue on resource: prod/db",
        params={"secretId": "prod/db"},
        ip="203.0.113.50",
        country="RU",
        city="Moscow",
    )
    world.alert(
        bucket - timedelta(hours=1),
        arns=[ALICE.arn],
        ips=["203.0.113.50"],
        rule_id=COUNTRY_RULE,
        rule_name="Unusual Country For an AWS Command",
        job_id="rare_method_for_a_country",
        span=3600,
        function="rare",
        field_name=None,
        by_field_name="event.action",
        by_field_value="ListThing0",
    )
    return world.alert(bucket, arns=[ALICE.arn], ips=["203.0.113.50"])


BUG_MESSAGE = (
    "User: arn:aws:sts::111111111111:assumed-role/ci-deployer/build-42 is not authorized to "
    "perform: dynamodb:PutItem on resource: arn:aws:dynamodb:eu-west-1:111111111111:table/orders"
)
EC2_DENIED = "You are not authorized to perform this operation."


def build_automation_bug(world: World, ec2: bool = False) -> str:
    """A CI role deploys, then repeats one AccessDenied hundreds of times.

    ``ec2``: the retried call is EC2's, whose every denial carries a fresh encoded message.
    """
    for ts in hourly(HISTORY_START, 30, range(24)):
        world.event(DEPLOYER, ts, "GetFunction", "lambda.amazonaws.com")
        world.event(DEPLOYER, ts + timedelta(minutes=1), "GetItem", "dynamodb.amazonaws.com")
        world.event(DEPLOYER, ts + timedelta(minutes=2), "PutItem", "dynamodb.amazonaws.com")
    bucket = ALERT_DAY.replace(hour=14)
    world.event(
        DEPLOYER, bucket - timedelta(minutes=12), "UpdateFunctionCode", "lambda.amazonaws.com"
    )
    for i in range(300):
        if ec2:
            call = ("StartInstances", "ec2.amazonaws.com", "Client.UnauthorizedOperation")
            message = f"{EC2_DENIED} Encoded authorization failure message: tok{i:03d}-x_Y"
        else:
            call = ("PutItem", "dynamodb.amazonaws.com", "AccessDeniedException")
            message = BUG_MESSAGE
        world.event(
            DEPLOYER,
            bucket + timedelta(seconds=2 * i + 1),
            call[0],
            call[1],
            error_code=call[2],
            error_message=message,
            params={"tableName": "orders"},
        )
    return world.alert(bucket, arns=[DEPLOYER.arn], ips=[DEPLOYER.ip], actual=3.0, typical=1.0)
