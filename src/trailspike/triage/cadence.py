"""Is a command part of a steady routine (daily, weekly, monthly housekeeping) or new?

Elastic's false-positive guidance for the CloudTrail rules: a command that "appears in small
numbers on a weekly or monthly cadence" is probably housekeeping, and one that "only manifested
recently" may be a new script. :func:`classify_cadence` answers that from the days a command was
seen on.

Implementation decisions: the unit is the UTC calendar day on which the command ran at least
once, because housekeeping jobs are scheduled by day; hour-level jitter does not matter. A
cadence needs at least two gaps that agree (three run days) for daily/weekly/every-N-days, and one
gap of 27-32 days for monthly, since a month is long compared with the history a store keeps.
The day being triaged counts as the last run, so "does today fit the routine" is part of the
answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Literal

CadenceKind = Literal["new", "continuous", "daily", "weekly", "monthly", "periodic", "irregular"]

NEW_WITHIN = timedelta(days=1)
CONTINUOUS_SHARE = 0.8


@dataclass(frozen=True)
class Cadence:
    """How a command recurs.

    Attributes
    ----------
    kind
        ``new`` (first seen within a day of the triaged time), ``continuous`` (most days),
        ``daily``, ``weekly``, ``monthly``, ``periodic`` (every ``period_days``) or
        ``irregular``.
    run_days
        Number of distinct UTC days it ran on, the triaged day included.
    period_days
        The gap between run days when the kind is periodic-like, else None.
    first_seen
        Its earliest occurrence.
    median_per_day
        Typical number of calls on a day it runs ("small numbers" is part of housekeeping).
    description
        A sentence for a report.
    """

    kind: CadenceKind
    run_days: int
    period_days: int | None
    first_seen: datetime | None
    median_per_day: float
    description: str

    @property
    def is_routine(self) -> bool:
        """True for a steady schedule (continuous, daily, weekly, monthly, periodic)."""
        return self.kind not in ("new", "irregular")


def _day_counts(times: Iterable[datetime]) -> dict[date, int]:
    counts: dict[date, int] = {}
    for ts in times:
        counts[ts.date()] = counts.get(ts.date(), 0) + 1
    return counts


def _median(values: list[int]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def _periodic_kind(gaps: list[int]) -> tuple[CadenceKind, int] | None:
    """The schedule a list of day gaps agrees on, or None.

    >>> _periodic_kind([7, 7, 6])
    ('weekly', 7)
    >>> _periodic_kind([30])
    ('monthly', 30)
    >>> _periodic_kind([3, 11])
    """
    if len(gaps) == 1 and 27 <= gaps[0] <= 32:
        return "monthly", gaps[0]
    if len(gaps) < 2:
        return None
    if all(27 <= g <= 32 for g in gaps):
        return "monthly", round(sum(gaps) / len(gaps))
    low, high = min(gaps), max(gaps)
    if high - low > max(1, high // 7):
        return None
    period = round(sum(gaps) / len(gaps))
    if period == 1:
        return "daily", 1
    if period == 7:
        return "weekly", 7
    return "periodic", period


def classify_cadence(
    times: Iterable[datetime],
    at: datetime,
    *,
    history_start: datetime | None = None,
) -> Cadence:
    """Classify the days a command ran on, as seen from the triaged moment ``at``.

    Parameters
    ----------
    times
        Every occurrence of the command up to ``at`` (later ones are ignored).
    at
        The triaged moment; its day counts as a run day.
    history_start
        Start of the history looked at, used for the continuous share (default: first seen).

    Returns
    -------
    Cadence

    Examples
    --------
    >>> at = datetime(2026, 3, 29, 2, 5)
    >>> weekly = [datetime(2026, 3, d, 2, 0) for d in (1, 8, 15, 22)]
    >>> classify_cadence(weekly, at).kind
    'weekly'
    >>> classify_cadence([at - timedelta(hours=2)], at).kind
    'new'
    """
    past = sorted(t for t in times if t <= at)
    return classify_day_counts(
        _day_counts(past), past[0] if past else None, at, history_start=history_start
    )


def classify_day_counts(
    day_counts: Mapping[date, int],
    first_seen: datetime | None,
    at: datetime,
    *,
    history_start: datetime | None = None,
) -> Cadence:
    """:func:`classify_cadence` on calls per UTC day (what a GROUP BY day query returns).

    >>> at = datetime(2026, 3, 30, 4, 0)
    >>> classify_day_counts({date(2026, 2, 28): 3}, datetime(2026, 2, 28, 4), at).kind
    'monthly'
    """
    counts = {d: n for d, n in day_counts.items() if d <= at.date() and n > 0}
    median = _median(list(counts.values())) if counts else 0.0
    counts.setdefault(at.date(), 0)
    first = first_seen
    if first is None or first >= at - NEW_WITHIN:
        since = f"first seen {first:%Y-%m-%d %H:%M}" if first else "never seen before"
        return Cadence("new", len(counts), None, first, median, f"new: {since}")
    days = sorted(counts)
    start_day = (history_start or first).date()
    span_days = (at.date() - start_day).days + 1
    if len(days) >= CONTINUOUS_SHARE * span_days and len(days) >= 3:
        return Cadence(
            "continuous",
            len(days),
            1,
            first,
            median,
            f"steady: ran on {len(days)} of {span_days} days, about {median:g} calls a day",
        )
    gaps = [(b - a).days for a, b in pairwise(days)]
    periodic = _periodic_kind(gaps)
    if periodic is not None:
        kind, period = periodic
        label = {"daily": "daily", "weekly": "weekly", "monthly": "monthly"}.get(
            kind, f"every {period} days"
        )
        return Cadence(
            kind,
            len(days),
            period,
            first,
            median,
            f"housekeeping-like: {label} on {len(days)} days since {first:%Y-%m-%d}, "
            f"about {median:g} calls a run",
        )
    return Cadence(
        "irregular",
        len(days),
        None,
        first,
        median,
        f"irregular: {len(days)} run days since {first:%Y-%m-%d} with no steady gap",
    )
