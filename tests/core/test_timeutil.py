from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from trailspike.core.errors import ConfigError
from trailspike.core.timeutil import bucket_start, parse_duration, parse_relative, parse_time


def test_durations() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("30d") == timedelta(days=30)
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration("fifteen minutes")


def test_relative_and_absolute() -> None:
    now = datetime(2026, 3, 1, 0, 30)
    assert parse_relative("now-2h", now) == datetime(2026, 2, 28, 22, 30)
    assert parse_relative("now", now) == now
    assert parse_time("2026-03-01") == datetime(2026, 3, 1)
    with pytest.raises(ConfigError):
        parse_relative("yesterday", now)


def test_bucket_start_aligns_to_span() -> None:
    span = timedelta(minutes=15)
    assert bucket_start(datetime(2026, 3, 1, 0, 14, 59), span) == datetime(2026, 3, 1)
    assert bucket_start(datetime(2026, 3, 1, 0, 15), span) == datetime(2026, 3, 1, 0, 15)
