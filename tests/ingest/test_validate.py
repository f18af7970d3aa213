from __future__ import annotations

import pytest
from ingest_helpers import record

from trailspike.ingest.validate import check_record


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"eventTime": None}, "missing eventTime"),
        ({"eventTime": 1700000000}, "eventTime must be a string, got int"),
        ({"eventTime": "last tuesday"}, "eventTime is not an ISO 8601 time: 'last tuesday'"),
        (
            {"eventTime": "\uff12026-01-01T00:00:00Z"},  # a fullwidth digit: DuckDB cannot cast it
            "eventTime is not an ISO 8601 time: '\uff12026-01-01T00:00:00Z'",
        ),
        # Not real dates or times: DuckDB could not cast their @timestamp either.
        (
            {"eventTime": "2026-02-30T00:00:00Z"},
            "eventTime is not an ISO 8601 time: '2026-02-30T00:00:00Z'",
        ),
        (
            {"eventTime": "2026-13-01T00:00:00Z"},
            "eventTime is not an ISO 8601 time: '2026-13-01T00:00:00Z'",
        ),
        (
            {"eventTime": "2026-12-31T23:59:60Z"},
            "eventTime is not an ISO 8601 time: '2026-12-31T23:59:60Z'",
        ),
        ({"eventName": ["GetObject"]}, "eventName must be a string, got list"),
        ({"userIdentity": "alice"}, "userIdentity must be an object, got str"),
        ({"sourceIPAddress": "300.1.2.3"}, "invalid sourceIPAddress '300.1.2.3'"),
        ({"sourceIPAddress": "2001:db8::zz"}, "invalid sourceIPAddress '2001:db8::zz'"),
        ({"sourceIPAddress": "x" * 300}, "sourceIPAddress is 300 characters long"),
        ({"acsRegion": "cn-hangzhou"}, "Alibaba Cloud ActionTrail record, not AWS CloudTrail"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_rejections_say_why(changes: dict, reason: str) -> None:
    rec = record(1)
    for key, value in changes.items():
        if value is None:
            rec.pop(key)
        else:
            rec[key] = value
    assert check_record(rec) == reason


@pytest.mark.parametrize(
    "address",
    ["89.160.20.156", "2001:db8::1", "ec2.amazonaws.com", "AWS Internal", "...", "cloudtrail"],
)
def test_service_names_and_addresses_are_accepted(address: str) -> None:
    assert check_record(record(1, sourceIPAddress=address)) is None


def test_space_separated_event_time_is_accepted() -> None:
    assert check_record(record(1, eventTime="2021-05-20 15:53:47Z")) is None
