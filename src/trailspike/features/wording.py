"""An error message's wording: the message with the parts that differ on every request masked.

``high_distinct_count`` of ``aws.cloudtrail.error_message`` counts how many *different* errors a
bucket holds, so that one error repeated many times does not raise it. Some messages differ on
every call even when the failure is the same: EC2 appends an encoded authorization message
(a fresh token per request), others quote a request id or a time, and the session name in an
assumed-role ARN changes per process (an SDK's default carries its start time, an ECS task's is
its task id). A job that lists a
field in ``custom_settings.trailspike.wording_fields`` reads that field by its wording: one
denied ``RunInstances`` retried 200 times is one message, not 200. ARNs, actions, resources
(their ids too, UUIDs included: a KMS key's ARN ends in one), account ids and error codes are
kept, so enumeration (many resources, many actions) still counts as many messages.

Implementation decisions: the same masks run in DuckDB (RE2), Spark (Java regex) and Python, so
the patterns use only what the three read alike (no look-around, ``[0-9]`` not ``\\d``, no
group references in replacements) and are applied in order. The patterns and masks are
constants, passed to DuckDB as bound parameters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trailspike.features.query import field_sql

if TYPE_CHECKING:
    from pyspark.sql import Column

    from trailspike.features.contract import DetectorFeature

WORDING_MASKS: tuple[tuple[str, str], ...] = (
    # EC2 "... Encoded authorization failure message: <token>": a new token every request.
    (
        "Encoded authorization failure message: [^ ]+",
        "Encoded authorization failure message: <encoded>",
    ),
    # A request id is quoted after its name. A bare UUID is left alone: in an ARN it names a
    # resource (a KMS key), and probing many keys is many failures.
    ("(?i)request ?id: [A-Za-z0-9/+=_-]+", "Request ID: <id>"),
    # SigV4 "Signature expired: 20240101T010203Z is now earlier than ..." and ISO times.
    ("[0-9]{8}T[0-9]{6}Z", "<time>"),
    ("[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z?", "<time>"),
    # SDK default session names in assumed-role ARNs carry the process's start time.
    ("botocore-session-[0-9]+", "botocore-session-<n>"),
    ("aws-go-sdk-[0-9]+", "aws-go-sdk-<n>"),
    ("aws-sdk-java-[0-9]+", "aws-sdk-java-<n>"),
    ("aws-sdk-js-session-[0-9]+", "aws-sdk-js-session-<n>"),
    # An ECS task's role session is its task id: each task of a service has its own. Only the
    # caller's session is masked ("... /<id> is not authorized"); a task named as the
    # resource ("... task/cluster/<id> because ...") is kept.
    ("/[0-9a-f]{32} is not authorized", "/<task> is not authorized"),
)
_COMPILED = tuple((re.compile(pattern), mask) for pattern, mask in WORDING_MASKS)


def wording(message: str) -> str:
    """``message`` with its per-request parts masked.

    >>> wording("Not authorized. Encoded authorization failure message: 7Xc-9_aB")
    'Not authorized. Encoded authorization failure message: <encoded>'
    >>> wording("User: arn:aws:sts::123456789012:assumed-role/r/aws-go-sdk-1722511821294449000")
    'User: arn:aws:sts::123456789012:assumed-role/r/aws-go-sdk-<n>'
    >>> wording("Signature expired: 20240101T010203Z is now earlier than 20240101T011203Z")
    'Signature expired: <time> is now earlier than <time>'
    """
    return apply_masks(message, _COMPILED)


def apply_masks(text: str, masks: Sequence[tuple[re.Pattern[str], str]]) -> str:
    """``text`` with each compiled pattern replaced by its mask, in order."""
    for pattern, mask in masks:
        text = pattern.sub(mask, text)
    return text


def masked_sql(
    expr: str, params: list[Any], masks: Sequence[tuple[str, str]]
) -> tuple[str, list[Any]]:
    """DuckDB SQL applying ``masks`` in order to the text expression ``expr`` (``params`` are
    the expression's own; patterns and masks are bound as parameters after them)."""
    out, bound = expr, list(params)
    for pattern, mask in masks:
        out = f"regexp_replace({out}, ?, ?, 'g')"
        bound += [pattern, mask]
    return out, bound


def wording_sql(expr: str, params: list[Any]) -> tuple[str, list[Any]]:
    """DuckDB SQL for the wording of the text expression ``expr`` (patterns bound as parameters).

    >>> wording_sql("error_message", [])[0].count("regexp_replace")
    9
    """
    return masked_sql(expr, params, WORDING_MASKS)


def detector_field_sql(det: DetectorFeature) -> tuple[str, list[Any]]:
    """SQL for the value a detector aggregates: its field, read by its wording when the job
    says so (``NULL`` for a detector without a field)."""
    if not det.field_name:
        return "NULL", []
    expr, params = field_sql(det.field_name)
    return wording_sql(f"CAST({expr} AS VARCHAR)", params) if det.wording else (expr, params)


def wording_column(column: Column) -> Column:
    """The Spark column of the wording of the string column ``column``."""
    from pyspark.sql import functions as F

    for pattern, mask in WORDING_MASKS:
        column = F.regexp_replace(column, pattern, mask)
    return column
