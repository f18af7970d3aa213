"""Decide whether a decoded CloudTrail record can be stored, and say precisely why not.

Checks: the record is an object; ``eventTime`` is present and an ISO 8601 time; the fields jobs
and rules read have the types CloudTrail gives them; ``sourceIPAddress`` is either a real IP
address or a service name (CloudTrail legitimately writes ``ec2.amazonaws.com`` or
``AWS Internal`` there: those become ``source.address`` only) but not a malformed address such as
``999.1.2.3``; and the record is not an Alibaba Cloud ActionTrail record, which looks similar.

Implementation decisions: size is checked by the pipeline on the serialised ECS document (it is
produced anyway), not here, so no record is serialised twice.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from trailspike.normalise.values import before_cloudtrail, format_timestamp, is_ip_address

_STRING_FIELDS = (
    "eventID",
    "eventName",
    "eventSource",
    "awsRegion",
    "errorCode",
    "errorMessage",
    "userAgent",
    "sourceIPAddress",
    "recipientAccountId",
)
_OBJECT_FIELDS = ("userIdentity", "tlsDetails")
# Something that is trying to be an address: digits and dots, or anything with a colon
# (service names never have one).
_ADDRESS_LIKE = re.compile(r"^(?=.*[0-9])[0-9.]+$|:")
MAX_SOURCE_ADDRESS = 253  # longest DNS name; anything longer is not a service name either


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@lru_cache(maxsize=1 << 16)
def check_source_address(value: str) -> str | None:
    """Why ``sourceIPAddress`` is invalid, or None when it is an address or a service name.

    >>> check_source_address("ec2.amazonaws.com") is None, check_source_address("AWS Internal")
    (True, None)
    >>> check_source_address("999.10.1.1")
    "invalid sourceIPAddress '999.10.1.1'"
    """
    if len(value) > MAX_SOURCE_ADDRESS:
        return f"sourceIPAddress is {len(value)} characters long"
    if _ADDRESS_LIKE.search(value) and not is_ip_address(value):
        return f"invalid sourceIPAddress {value[:60]!r}"
    return None


def check_record(record: dict[str, Any]) -> str | None:
    """The reason ``record`` must be quarantined, or None when it can be stored.

    >>> check_record({"eventName": "X"})
    'missing eventTime'
    >>> check_record({"eventTime": "yesterday"})
    "eventTime is not an ISO 8601 time: 'yesterday'"
    >>> check_record({"eventTime": "2024-01-01T00:00:00Z", "eventName": 7})
    'eventName must be a string, got int'
    """
    source = record.get("eventSource")
    if "acsRegion" in record or (isinstance(source, str) and source.endswith(".aliyuncs.com")):
        return "Alibaba Cloud ActionTrail record, not AWS CloudTrail"
    event_time = record.get("eventTime")
    if event_time is None:
        return "missing eventTime"
    if not isinstance(event_time, str):
        return f"eventTime must be a string, got {_type_name(event_time)}"
    stamp = format_timestamp(event_time)
    if stamp is None:
        return f"eventTime is not an ISO 8601 time: {event_time[:40]!r}"
    if before_cloudtrail(stamp):
        return f"eventTime {event_time[:40]!r} is before CloudTrail began (November 2013)"
    for key in _STRING_FIELDS:
        value = record.get(key)
        if value is not None and value.__class__ is not str and not isinstance(value, str):
            return f"{key} must be a string, got {_type_name(value)}"
    for key in _OBJECT_FIELDS:
        value = record.get(key)
        if value is not None and value.__class__ is not dict and not isinstance(value, dict):
            return f"{key} must be an object, got {_type_name(value)}"
    address = record.get("sourceIPAddress")
    if isinstance(address, str):
        return check_source_address(address)
    return None
