"""Durations (``15m``, ``now-60m``) and UTC timestamps.

All timestamps inside trailspike are naive :class:`datetime` objects in UTC; DuckDB stores them as
``TIMESTAMP``. Converting at the edges keeps comparisons and bucket arithmetic simple.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from trailspike.core.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse an Elastic-style duration such as ``15m``, ``2h`` or ``30d``.

    >>> parse_duration("15m")
    datetime.timedelta(seconds=900)
    """
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"not a duration: {text!r} (expected e.g. 15m, 2h, 30d)")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_relative(text: str, now: datetime) -> datetime:
    """Resolve Elastic date math of the form ``now``, ``now-60m`` or ``now+5m`` against ``now``.

    >>> parse_relative("now-60m", datetime(2026, 1, 1, 12, 0))
    datetime.datetime(2026, 1, 1, 11, 0)
    """
    text = text.strip()
    if text == "now":
        return now
    match = re.match(r"^now\s*([+-])\s*(.+)$", text)
    if not match:
        raise ConfigError(f"not a relative time: {text!r} (expected now, now-60m, …)")
    delta = parse_duration(match.group(2))
    return now - delta if match.group(1) == "-" else now + delta


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 time (``2026-01-01``, ``2026-01-01T10:00:00Z``) into naive UTC.

    >>> parse_time("2026-01-01T10:00:00+02:00")
    datetime.datetime(2026, 1, 1, 8, 0)
    """
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"not an ISO-8601 time: {text!r}") from exc
    return to_naive_utc(parsed)


def to_naive_utc(value: datetime) -> datetime:
    """Drop the time zone after converting to UTC; naive input is taken as UTC already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def utcnow() -> datetime:
    """The current time as naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def bucket_start(ts: datetime, span: timedelta) -> datetime:
    """The start of the bucket of width ``span`` (aligned to the Unix epoch) that holds ``ts``.

    >>> bucket_start(datetime(2026, 1, 1, 10, 7), timedelta(minutes=15))
    datetime.datetime(2026, 1, 1, 10, 0)
    """
    epoch = datetime(1970, 1, 1)
    seconds = int((ts - epoch).total_seconds())
    step = int(span.total_seconds())
    return epoch + timedelta(seconds=seconds - seconds % step)


def epoch_micros(ts: datetime) -> int:
    """Microseconds since the Unix epoch of ``ts`` (naive is UTC), as DuckDB's ``epoch_us``.

    >>> epoch_micros(datetime(1970, 1, 1, 0, 0, 1, 5))
    1000005
    """
    return (to_naive_utc(ts) - datetime(1970, 1, 1)) // timedelta(microseconds=1)
