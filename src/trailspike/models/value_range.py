"""The range a series' values took over the last week, kept as one (low, high) per day.

The baseline is a sum of components (level, trend, daily, weekly), and a sum can leave the range
the series ever takes: on a workday pattern of counts, the daily profile's busy hours pull the
fast level below zero on a quiet weekend, and a Saturday evening's single error then reads as
far above a baseline of -1. :class:`ValueRange` lets the model keep its baseline within what the
series did in the last :data:`RANGE_DAYS` days; a baseline inside that range is left alone, so
a change to values never seen (a jump, a drop) is still judged against the learnt baseline.

Implementation decisions: a week, not a day, so that Monday's peak is not judged against Sunday's
range; one low and one high per calendar day (UTC), so the state is a few floats whatever the
bucket span.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DAY = 86400.0
RANGE_DAYS = 7


@dataclass
class ValueRange:
    """Daily lows and highs of the last :data:`RANGE_DAYS` days (today included)."""

    days: list[tuple[int, float, float]] = field(default_factory=list)  # (day, low, high)

    def add(self, t: float, value: float) -> None:
        day = math.floor(t / DAY)
        if self.days and self.days[-1][0] == day:
            _, low, high = self.days[-1]
            if not low <= value <= high:
                self.days[-1] = (day, min(low, value), max(high, value))
            return
        self.days.append((day, value, value))
        self.days = [d for d in self.days if d[0] > day - RANGE_DAYS]

    def clamp(self, t: float, baseline: float) -> float:
        """``baseline`` moved into the recent range of values (unchanged without history).

        >>> r = ValueRange()
        >>> r.add(0.0, 1.0); r.add(3600.0, 6.0)
        >>> r.clamp(7200.0, -0.5), r.clamp(7200.0, 3.0), r.clamp(7200.0, 9.0)
        (1.0, 3.0, 6.0)
        """
        oldest = math.floor(t / DAY) - RANGE_DAYS
        recent = [d for d in self.days if d[0] > oldest]
        if not recent:
            return baseline
        low = min(d[1] for d in recent)
        high = max(d[2] for d in recent)
        return min(max(baseline, low), high)
