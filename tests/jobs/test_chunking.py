"""How a run's buckets are cut into transactions: base chunks joined by wall-time pace."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from trailspike.core.errors import ConfigError
from trailspike.jobs.chunking import CommitPolicy, paced_chunks

DAY = timedelta(days=1)
T0 = datetime(2026, 1, 5)


def base_chunks(days: int) -> list[tuple[datetime, datetime]]:
    return [(T0 + k * DAY, T0 + (k + 1) * DAY) for k in range(days)]


def spans(chunks: list[tuple[datetime, datetime]]) -> list[int]:
    return [(end - start) // DAY for start, end in chunks]


class Clock:
    """A wall clock that advances ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_fast_chunks_double_up_to_the_longest():
    policy = CommitPolicy(base=DAY, longest=7 * DAY, seconds=30, clock=Clock(0))
    chunks = list(paced_chunks(base_chunks(21), policy))
    assert spans(chunks) == [1, 2, 4, 7, 7]
    # Consecutive, on the base grid, covering every base chunk once.
    assert [c[0] for c in chunks[1:]] == [c[1] for c in chunks[:-1]]
    assert chunks[0][0] == T0 and chunks[-1][1] == T0 + 21 * DAY


def test_slow_chunks_stay_at_the_base():
    # Each chunk reads as 100 s of wall time against a budget of 30 s: commit after every day.
    policy = CommitPolicy(base=DAY, longest=7 * DAY, seconds=30, clock=Clock(100))
    assert spans(list(paced_chunks(base_chunks(5), policy))) == [1, 1, 1, 1, 1]


def test_chunks_are_sized_to_the_time_budget():
    # A day takes 10 s (the clock is read once before and once after a chunk): 3 days fit 30 s.
    assert CommitPolicy(base=DAY, seconds=30).next_span(DAY, 10.0) == 2 * DAY
    assert CommitPolicy(base=DAY, seconds=30).next_span(4 * DAY, 10.0) == 7 * DAY
    assert CommitPolicy(base=DAY, seconds=30).next_span(4 * DAY, 40.0) == 3 * DAY
    assert CommitPolicy(base=DAY, seconds=30).next_span(2 * DAY, 600.0) == DAY


def test_joined_chunks_skip_gaps_without_exceeding_the_span():
    policy = CommitPolicy(base=DAY, longest=7 * DAY, seconds=30, clock=Clock(0))
    occupied = [c for k, c in enumerate(base_chunks(12)) if k not in (2, 3, 4)]
    chunks = list(paced_chunks(occupied, policy))
    # 1 day, then up to 2 days of event time (day 1 only: day 5 ends past it), 2, 4, the rest.
    assert [((s - T0) // DAY, (e - T0) // DAY) for s, e in chunks] == [
        (0, 1),
        (1, 2),
        (5, 7),
        (7, 11),
        (11, 12),
    ]


def test_policy_from_settings():
    policy = CommitPolicy.from_settings(
        {"history_commit_max": "3d", "history_commit_seconds": "2m"}, DAY
    )
    assert (policy.base, policy.longest, policy.seconds) == (DAY, 3 * DAY, 120.0)
    # A maximum below the base means commits at the base, as before the policy.
    assert CommitPolicy.from_settings({"history_commit_max": "1h"}, DAY).longest == DAY
    with pytest.raises(ConfigError):
        CommitPolicy.from_settings({"history_commit_seconds": "soon"}, DAY)
