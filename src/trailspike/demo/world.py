"""The cast of the demo world: accounts, places, principals and the resources they touch.

Three accounts (prod, staging, security), people in four cities of three time zones, automation
roles and AWS services. :func:`build_cast` returns them with deterministic identifiers derived
from the seed, and :meth:`Principal.identity_json` renders the CloudTrail ``userIdentity`` block
(IAMUser, AssumedRole with ``sessionContext``, AWSService, Root) for one session.

Implementation decisions: made-up addresses come only from test ranges. People's addresses are
the ones MaxMind's public *test* GeoIP databases resolve to cities (London, Linköping, San Diego,
Milton, Boxford, Changchun; geoip2fast's country data agrees on their countries); automation
egresses from the documentation ranges 198.51.100.0/24 (CI runners) and 203.0.113.0/24 (VPC NAT),
which resolve nowhere, as private-looking automation should.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

REGIONS: tuple[str, ...] = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-1")


@dataclass(frozen=True)
class Account:
    """One AWS account and its home region."""

    id: str
    alias: str
    home_region: int


ACCOUNTS: tuple[Account, ...] = (
    Account("210987654321", "prod", 0),
    Account("345678901234", "staging", 0),
    Account("456789012345", "security", 1),
)


@dataclass(frozen=True)
class Place:
    """A city people call AWS from, with the addresses that geolocate there."""

    city: str
    country: str
    utc_offset: int
    addresses: tuple[str, ...]


PLACES: dict[str, Place] = {
    "london": Place("London", "GB", 0, tuple(f"81.2.69.{i}" for i in range(144, 208))),
    "linkoping": Place("Linköping", "SE", 1, tuple(f"89.160.20.{i}" for i in range(112, 256))),
    "san_diego": Place(
        "San Diego", "US", -8, tuple(f"214.78.{i}.{j}" for i in (3, 17, 41) for j in (9, 77, 140))
    ),
    "milton": Place("Milton", "US", -8, tuple(f"216.160.83.{i}" for i in range(56, 64))),
    "boxford": Place("Boxford", "GB", 0, tuple(f"2.125.160.{i}" for i in range(216, 224))),
    "changchun": Place("Changchun", "CN", 8, tuple(f"175.16.199.{i}" for i in range(1, 255))),
}
CI_ADDRESSES = tuple(f"198.51.100.{i}" for i in range(10, 60))
NAT_ADDRESSES = tuple(f"203.0.113.{i}" for i in (7, 19, 33, 48, 65, 91))

# Resource names per kind; templates in catalog.py refer to them as $kind.
RESOURCES: dict[str, tuple[str, ...]] = {
    "bucket": (
        "orders-artifacts",
        "app-static-assets",
        "data-lake-raw",
        "cloudtrail-archive",
        "terraform-state",
        "analytics-exports",
    ),
    "role": (
        "orders-api-task",
        "etl-batch-job",
        "github-actions-deploy",
        "app-instance-role",
        "OrganizationAccountAccessRole",
        "lambda-admin",
    ),
    "user": ("bob", "erin", "heidi", "nina", "svc-legacy-reporting", "break-glass-admin"),
    "fn": (
        "orders-webhook",
        "image-resizer",
        "metrics-collector",
        "nightly-export",
        "slack-notifier",
        "auth-authorizer",
    ),
    "instance": (
        "i-0a1b2c3d4e5f60718",
        "i-09f8e7d6c5b4a3921",
        "i-0123456789abcdef0",
        "i-0fedcba9876543210",
        "i-05a4b3c2d1e0f9a8b",
        "i-0c0ffee0ddba11000",
    ),
    "table": ("orders", "customers", "sessions", "inventory", "audit-log", "feature-flags"),
    "secret": (
        "prod/orders/db-AbCdEf",
        "prod/stripe/api-key-1x2Y3z",
        "shared/slack-9QwErT",
        "staging/orders/db-ZyXwVu",
        "ci/npm-token-Lm3No4",
        "etl/warehouse-Pq5Rs6",
    ),
    "param": (
        "/app/orders/db-host",
        "/app/orders/feature-x",
        "/reporting/slack-webhook",
        "/etl/warehouse/dsn",
        "/ci/sonar-token",
        "/app/orders/log-level",
    ),
    "key": (
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "0987dcba-09fe-87dc-65ba-ab0987654321",
        "5c1e2d3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f",
        "9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0",
        "2b3c4d5e-6f70-8192-a3b4-c5d6e7f80912",
        "7e6d5c4b-3a29-1807-f6e5-d4c3b2a19087",
    ),
    "stack": (
        "orders-api",
        "network-base",
        "data-pipeline",
        "observability",
        "edge-cdn",
        "ci-runners",
    ),
    "cluster": ("orders", "payments", "web", "workers", "orders", "web"),
    "db": (
        "orders-db",
        "analytics-db",
        "orders-db-replica",
        "orders-db",
        "analytics-db",
        "orders-db",
    ),
    "image": (
        "ami-0abcdef1234567890",
        "ami-0fedcba0987654321",
        "ami-0123abcd4567ef890",
        "ami-0987fedc6543ba210",
        "ami-0aaabbbcccddd0001",
        "ami-0eeefff0001112223",
    ),
    "snapshot": (
        "snap-0a1b2c3d4e5f6a7b8",
        "snap-0b2c3d4e5f6a7b8c9",
        "snap-0c3d4e5f6a7b8c9d0",
        "snap-0d4e5f6a7b8c9d0e1",
        "snap-0e5f6a7b8c9d0e1f2",
        "snap-0f6a7b8c9d0e1f2a3",
    ),
    "sm": (
        "orders-pipeline",
        "refund-workflow",
        "nightly-etl",
        "orders-pipeline",
        "refund-workflow",
        "invoice-fanout",
    ),
    "policy": (
        "orders-api-policy",
        "etl-batch-policy",
        "ci-deploy-policy",
        "orders-api-policy",
        "developer-boundary",
        "etl-batch-policy",
    ),
    "session": ("admin", "debug", "maint", "ops", "temp", "x"),
}
VARIANTS = 6


def stable_id(
    *parts: object, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", n: int = 16
) -> str:
    """A deterministic identifier from ``parts`` (AWS ids are upper-case base32-like).

    >>> stable_id("seed", "bob") == stable_id("seed", "bob")
    True
    >>> len(stable_id("x", n=17))
    17
    """
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=32).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:n])


@dataclass
class Principal:
    """Someone or something that calls AWS: how it authenticates and what it usually does.

    ``identity`` is one of ``iam_user`` (long-term key), ``sso`` (IAM Identity Center role),
    ``role`` (automation role), ``service`` (an AWS service) or ``root``.
    """

    name: str
    identity: str
    accounts: tuple[int, ...]
    role_name: str = ""
    session_name: str = ""
    place: str = ""
    calls: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    denied: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()
    invoked_by: str = ""
    seed: int = 0
    ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = {
            "user": "AIDA" + stable_id(self.seed, "user", self.name, n=17),
            "role": "AROA" + stable_id(self.seed, "role", self.role_name or self.name, n=17),
            "akid": "AKIA" + stable_id(self.seed, "akid", self.name),
        }

    @property
    def is_human(self) -> bool:
        """People (IAM users, SSO users, root) as opposed to automation and services."""
        return self.identity in {"iam_user", "sso", "root"}

    def session(self, name_key: int, variant: int = 0) -> str:
        """The role session name on day ``name_key`` (task ids and run ids change daily).

        Instance roles (session ``$instance``) are named after the instance (``variant``).
        """
        if self.session_name == "$instance":
            return RESOURCES["instance"][variant]
        if self.session_name.endswith("*"):
            suffix = stable_id(self.seed, self.name, name_key, alphabet="0123456789abcdef", n=12)
            return self.session_name[:-1] + suffix
        return self.session_name

    def arn(self, account: str, name_key: int = 0, variant: int = 0) -> str:
        """The ``userIdentity.arn`` of this principal in ``account``."""
        if self.identity == "iam_user":
            return f"arn:aws:iam::{account}:user/{self.name}"
        if self.identity == "root":
            return f"arn:aws:iam::{account}:root"
        if self.identity == "service":
            return ""
        session = self.session(name_key, variant)
        return f"arn:aws:sts::{account}:assumed-role/{self.role_name}/{session}"

    def identity_json(
        self,
        account: str,
        session_key: int,
        name_key: int,
        created: str,
        console: bool,
        variant: int = 0,
    ) -> str:
        """The ``userIdentity`` object (JSON text) for one credential session.

        ``session_key`` numbers the temporary credentials, ``name_key`` the session name (see
        :meth:`session`); ``created`` is the credentials' ISO creation time; ``console`` adds the
        session context a console sign-in carries.
        """
        if self.identity == "service":
            return orjson.dumps({"type": "AWSService", "invokedBy": self.name}).decode()
        key = "ASIA" + stable_id(self.seed, "session", self.name, account, session_key)
        attributes = {"creationDate": created, "mfaAuthenticated": "true" if console else "false"}
        if self.identity == "iam_user":
            ident: dict[str, object] = {
                "type": "IAMUser",
                "principalId": self.ids["user"],
                "arn": self.arn(account),
                "accountId": account,
                "accessKeyId": key if console else self.ids["akid"],
                "userName": self.name,
            }
            if console:
                ident["sessionContext"] = {
                    "sessionIssuer": {},
                    "webIdFederationData": {},
                    "attributes": attributes,
                }
            return orjson.dumps(ident).decode()
        if self.identity == "root":
            return orjson.dumps(
                {
                    "type": "Root",
                    "principalId": account,
                    "arn": self.arn(account),
                    "accountId": account,
                    "accessKeyId": key,
                    "sessionContext": {
                        "sessionIssuer": {},
                        "webIdFederationData": {},
                        "attributes": {**attributes, "mfaAuthenticated": "true"},
                    },
                }
            ).decode()
        path = "aws-reserved/sso.amazonaws.com/" if self.identity == "sso" else ""
        session = self.session(name_key, variant)
        ident = {
            "type": "AssumedRole",
            "principalId": f"{self.ids['role']}:{session}",
            "arn": self.arn(account, name_key, variant),
            "accountId": account,
            "accessKeyId": key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": self.ids["role"],
                    "arn": f"arn:aws:iam::{account}:role/{path}{self.role_name}",
                    "accountId": account,
                    "userName": self.role_name,
                },
                "webIdFederationData": {},
                "attributes": attributes,
            },
        }
        if self.invoked_by:
            ident["invokedBy"] = self.invoked_by
        return orjson.dumps(ident).decode()
