"""What the triage steps call things: read calls, denials, services, sensitive and deploy actions.

The thresholds and word lists behind the findings, shared by the steps (:mod:`.steps`), the
actor's profile (:mod:`.actor`) and the scope of an alert (:mod:`.scope`).

Implementation decisions: thresholds are module constants with the reason beside them, not
settings: they describe what "many" means to an analyst and are shown in every finding.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

HISTORY_DAYS = 30
NEW_WITHIN = timedelta(hours=24)
RELATED_WINDOW = timedelta(hours=48)
INTENT_LOOKBACK = timedelta(minutes=45)  # the spike rule's extra look-back
MANY_DISTINCT_DENIED = 10  # distinct denied read calls that look like enumeration
MANY_SERVICES = 3
DEPLOY_LOOKBACK = timedelta(hours=2)
ROUTINE_LOOKBACK = timedelta(days=7)  # a denial repeated within a week is a script's habit
SHOWN_TEXT = 240

READ_PREFIXES = (
    "List",
    "Describe",
    "Get",
    "Head",
    "Search",
    "Scan",
    "Lookup",
    "BatchGet",
    "Query",
)
DENIED_MARKERS = (
    "AccessDenied",
    "Unauthorized",
    "Forbidden",
    "NotAuthorized",
    "AuthorizationError",
)
SENSITIVE_SERVICES = ("secretsmanager", "ssm", "kms", "s3")
SENSITIVE_ACTIONS = frozenset(
    {
        "GetSecretValue",
        "ListSecrets",
        "DescribeSecret",
        "BatchGetSecretValue",
        "GetParameter",
        "GetParameters",
        "GetParametersByPath",
        "DescribeParameters",
        "Decrypt",
        "GenerateDataKey",
        "ListKeys",
        "DescribeKey",
        "GetObject",
        "ListBuckets",
        "ListObjects",
        "ListObjectsV2",
        "GetBucketPolicy",
        "GetBucketAcl",
    }
)
DEPLOY_ACTIONS = frozenset(
    {
        "CreateStack",
        "UpdateStack",
        "ExecuteChangeSet",
        "UpdateFunctionCode",
        "UpdateFunctionConfiguration",
        "PublishVersion",
        "CreateFunction",
        "UpdateService",
        "RegisterTaskDefinition",
        "CreateDeployment",
        "PutRolePolicy",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "DeleteRolePolicy",
        "UpdateAssumeRolePolicy",
        "PutBucketPolicy",
        "PutKeyPolicy",
        "StartPipelineExecution",
    }
)


def is_read_action(action: str | None) -> bool:
    """True for calls that read or list rather than change.

    >>> is_read_action("ListBuckets"), is_read_action("PutObject")
    (True, False)
    """
    return bool(action) and str(action).startswith(READ_PREFIXES)


def is_denied(error_code: str | None) -> bool:
    """True for error codes that mean "not allowed".

    >>> is_denied("AccessDenied"), is_denied("Client.UnauthorizedOperation")
    (True, True)
    >>> is_denied("ThrottlingException")
    False
    """
    return bool(error_code) and any(m in str(error_code) for m in DENIED_MARKERS)


def service_of(provider: str | None) -> str:
    """``s3`` for ``s3.amazonaws.com``.

    >>> service_of("secretsmanager.amazonaws.com")
    'secretsmanager'
    """
    return str(provider or "").split(".", 1)[0]


def shorten(text: Any, limit: int = SHOWN_TEXT) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis.

    >>> shorten("abcdef", 4)
    'abc…'
    """
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"
