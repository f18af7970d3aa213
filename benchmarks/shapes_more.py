"""More generic shapes for ``benchmarks/series_shapes.py`` (session 8), and the record they share.

Each family is designed from what monitored metrics and security event counts do, not from any
public data set: a nightly housekeeping job, a noise level that changes, a sensor that sticks, a
slow drift, a daily cycle that weakens, a working week, error counts that follow office hours,
and a quantised metric that takes two values. Each family draws from its own generator, seeded
from the benchmark's seed and the family's tag, so a family can change without moving the
others' random streams (or the earlier shapes' ones). Anomalies start after day 8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
FIVE_MINUTES = 300
FIFTEEN_MINUTES = 900
DAY_ROWS = 288  # five-minute rows a day
START = datetime(2014, 4, 1)  # a Tuesday; row k is START + k * step


@dataclass
class Shape:
    name: str
    values: Array
    step: int = FIVE_MINUTES
    anomaly: tuple[int, int] | None = None  # rows [start, end) of the labelled anomaly
    times: list[datetime] | None = None
    ignore: tuple[int, int] | None = None  # rows counted neither way (an earlier, known episode)


def clock_hours(n: int, step: int) -> Array:
    """Hour of the day (0-24, fractional) of each row."""
    return (np.arange(n) * step % 86400) / 3600.0


def weekdays(n: int, step: int) -> npt.NDArray[np.int64]:
    """Day of the week of each row, Monday 0."""
    return (START.weekday() + np.arange(n) * step // 86400) % 7


def row_of(day: int, hour: float, step: int = FIVE_MINUTES) -> int:
    """The row at ``hour`` o'clock on day ``day`` (day 0 is START's date)."""
    return int((day * 86400 + hour * 3600) // step)


# --- a nightly job ---

CRON_HOUR = 3.0
CRON_JITTER_ROWS = 9  # +/- 45 minutes
ODD_DAY = 9


def _cron_runs(rng: np.random.Generator, days: int) -> list[tuple[int, int, Array]]:
    """One run a day near 03:00: its first row, its length (10-20 min) and its height per row."""
    runs = []
    for day in range(days):
        start = row_of(day, CRON_HOUR) + int(rng.integers(-CRON_JITTER_ROWS, CRON_JITTER_ROWS + 1))
        length = int(rng.integers(2, 5))
        runs.append((start, length, 40 + rng.normal(0, 3, length)))
    return runs


def cron_shapes(rng: np.random.Generator) -> list[Shape]:
    # A quiet metric (CPU of a host at 8 %, sd 1) with a housekeeping job every night at
    # 03:00 +/- 45 min that adds ~40 for 10-20 minutes; then one day's run moved to 15:00
    # (someone ran it by hand, or the schedule changed), and one day's run three times as big.
    days = 14
    base = 8 + rng.normal(0, 1, days * DAY_ROWS)
    runs = _cron_runs(rng, days)
    plain, moved, bigger = base.copy(), base.copy(), base.copy()
    for day, (start, length, height) in enumerate(runs):
        plain[start : start + length] += height
        if day != ODD_DAY:
            moved[start : start + length] += height
            bigger[start : start + length] += height
    start, length, height = runs[ODD_DAY]
    bigger[start : start + length] += 3 * height
    afternoon = row_of(ODD_DAY, 15.0)
    moved[afternoon : afternoon + length] += height
    return [
        Shape("nightly job at 03:00 +/- 45 min", plain),
        Shape("nightly job, one run at 15:00", moved, anomaly=(afternoon, afternoon + 48)),
        Shape("nightly job, one run 3x bigger", bigger, anomaly=(start, start + 48)),
    ]


# --- noise level, a stuck sensor, drift, a weaker cycle ---

CHANGE = 3000  # row of the change in the 14-day, five-minute series (day 10.4)


def variance_shapes(rng: np.random.Generator) -> list[Shape]:
    # White noise (40, sd 5) whose sd triples for 300 rows; and the same series stuck at its
    # last reading for 300 rows (a sensor or an exporter that repeats its last value).
    noise = 40 + rng.normal(0, 5, 14 * DAY_ROWS)
    wider = noise.copy()
    wider[CHANGE : CHANGE + 300] = 40 + rng.normal(0, 15, 300)
    stuck = noise.copy()
    stuck[CHANGE : CHANGE + 300] = stuck[CHANGE - 1]
    return [
        Shape("white noise, sd x3 for 300 rows", wider, anomaly=(CHANGE, CHANGE + 400)),
        Shape("white noise, stuck for 300 rows", stuck, anomaly=(CHANGE, CHANGE + 400)),
    ]


def drift_shapes(rng: np.random.Generator) -> list[Shape]:
    # White noise (40, sd 5) whose level climbs linearly over a day to +5 sd and stays there
    # (a leak, a queue that drains slower than it fills); the anomaly is the ramp and, as for
    # the other changes, the rows just after it.
    n = 14 * DAY_ROWS
    values = 40 + rng.normal(0, 5, n)
    ramp = np.clip((np.arange(n) - CHANGE) / DAY_ROWS, 0.0, 1.0)
    values += 25 * ramp
    return [Shape("white noise, ramp +5 sd in a day", values, anomaly=(CHANGE, CHANGE + 400))]


def amplitude_shapes(rng: np.random.Generator) -> list[Shape]:
    # The daily sine (50 +/- 30, noise sd 2) whose swing halves for day 10 (traffic that
    # did not come: an outage upstream, a holiday in one region).
    n = 14 * DAY_ROWS
    i = np.arange(n)
    swing = np.full(n, 30.0)
    day = 10 * DAY_ROWS
    swing[day : day + DAY_ROWS] = 15
    values = 50 + swing * np.sin(2 * np.pi * i / DAY_ROWS) + rng.normal(0, 2, n)
    return [Shape("daily sine, swing halved a day", values, anomaly=(day, day + 400))]


# --- a working week ---

BUSY_SATURDAY = 18  # day 18 is a Saturday (START is a Tuesday)


def _office_bump(hours: Array) -> Array:
    """0 outside 07:00-19:00, a half sine peaking at 13:00 inside."""
    return np.where((hours > 7) & (hours < 19), np.sin(np.pi * (hours - 7) / 12), 0.0)


def weekly_shapes(rng: np.random.Generator) -> list[Shape]:
    # Four weeks at five-minute steps of a service used in office hours: 20 at night, +60 at
    # 13:00 on weekdays and +9 on weekends, noise sd 3; then the same with a busy weekend
    # (days 18-19 like weekdays: a release, an incident, or someone else using the account).
    n = 28 * DAY_ROWS
    bump = _office_bump(clock_hours(n, FIVE_MINUTES))
    weekend = weekdays(n, FIVE_MINUTES) >= 5
    noise = rng.normal(0, 3, n)
    quiet = 20 + np.where(weekend, 9.0, 60.0) * bump + noise
    busy = quiet.copy()
    first, last = BUSY_SATURDAY * DAY_ROWS, (BUSY_SATURDAY + 2) * DAY_ROWS
    busy[first:last] = (20 + 60 * bump + noise)[first:last]
    return [
        Shape("working week, 5-min steps", quiet),
        Shape("working week, a busy weekend", busy, anomaly=(first, last)),
    ]


# --- error counts in 15-minute buckets ---


def error_count_shapes(rng: np.random.Generator) -> list[Shape]:
    # Errors per 15-minute bucket over four weeks: Poisson 0.3 in office hours (09-17 Mon-Fri),
    # 0.03 otherwise (people make the mistakes, automation rarely); then the same with a two-hour
    # burst of Poisson(8) a bucket on a Saturday afternoon (someone probing with a stolen key).
    n = 28 * 96
    office = (weekdays(n, FIFTEEN_MINUTES) < 5) & (
        (clock_hours(n, FIFTEEN_MINUTES) >= 9) & (clock_hours(n, FIFTEEN_MINUTES) < 17)
    )
    counts = rng.poisson(np.where(office, 0.3, 0.03)).astype(float)
    burst = counts.copy()
    start = row_of(BUSY_SATURDAY, 14.0, FIFTEEN_MINUTES)
    burst[start : start + 8] += rng.poisson(8, 8)
    return [
        Shape("errors/15 min, office hours", counts, step=FIFTEEN_MINUTES),
        Shape(
            "errors/15 min, Saturday burst",
            burst,
            step=FIFTEEN_MINUTES,
            anomaly=(start, start + 16),
        ),
    ]


# --- a quantised metric ---

QUANTUM = 1 / 15  # values 0.066, 0.134, ... as a coarse CPU reading gives


def two_level_shapes(rng: np.random.Generator) -> list[Shape]:
    # A metric read at a coarse resolution: 1 or 2 quanta (0.066 / 0.134) at random, 40 % high;
    # the same with a big spike (0.4-1.2) about once a day, a normal event that should become
    # ordinary; and the spiky one with both levels up two quanta from row 3000 for good.
    n = 14 * DAY_ROWS
    levels = np.where(rng.random(n) < 0.4, 2 * QUANTUM, QUANTUM)
    spiky = levels.copy()
    spikes = rng.random(n) < 1 / DAY_ROWS
    spiky[spikes] = rng.uniform(0.4, 1.2, int(spikes.sum()))
    shifted = spiky.copy()
    shifted[CHANGE:] += 2 * QUANTUM
    return [
        Shape("two-level values", levels),
        Shape("two-level, a spike a day", spiky),
        Shape("two-level, spikes, level shift", shifted, anomaly=(CHANGE, CHANGE + 400)),
    ]


FAMILIES: tuple[Callable[[np.random.Generator], list[Shape]], ...] = (
    cron_shapes,
    variance_shapes,
    drift_shapes,
    amplitude_shapes,
    weekly_shapes,
    error_count_shapes,
    two_level_shapes,
)


def more_shapes(seed: int) -> list[Shape]:
    """Session 8's shapes, each family from its own generator (seed, tag)."""
    shapes: list[Shape] = []
    for tag, family in enumerate(FAMILIES, start=8000):
        shapes += family(np.random.default_rng((seed, tag)))
    return shapes


def row_times(shape: Shape) -> list[datetime]:
    """The shape's timestamps: its own, or START + k * step."""
    if shape.times is not None:
        return shape.times
    return [START + timedelta(seconds=shape.step * k) for k in range(len(shape.values))]
