"""Cadence of a command: housekeeping schedules against new or irregular use."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from trailspike.triage.cadence import classify_cadence, classify_day_counts

AT = datetime(2026, 3, 29, 3, 0)  # a Sunday


def _days(*offsets: int, hour: int = 2) -> list[datetime]:
    return [AT.replace(hour=hour) - timedelta(days=o) for o in offsets]


@pytest.mark.parametrize(
    ("times", "kind", "period"),
    [
        (_days(7, 14, 21, 28), "weekly", 7),
        (_days(28, 56), "monthly", 28),
        (_days(30), "monthly", 30),
        (_days(14, 28, 42), "periodic", 14),
        (_days(2, 4, 6, 8, 10), "periodic", 2),
        ([AT - timedelta(days=d, hours=h) for d in range(30) for h in (1, 5)], "continuous", 1),
    ],
    ids=["weekly", "monthly-3-runs", "monthly-2-runs", "fortnightly", "every-2-days", "steady"],
)
def test_routine_schedules_are_recognised(times: list[datetime], kind: str, period: int) -> None:
    cadence = classify_cadence(times, AT)
    assert cadence.kind == kind
    assert cadence.period_days == period
    assert cadence.is_routine


def test_first_use_today_is_new() -> None:
    cadence = classify_cadence([AT - timedelta(hours=3), AT - timedelta(minutes=5)], AT)
    assert cadence.kind == "new"
    assert not cadence.is_routine
    assert cadence.first_seen == AT - timedelta(hours=3)


def test_never_seen_is_new() -> None:
    cadence = classify_cadence([], AT)
    assert cadence.kind == "new"
    assert cadence.description == "new: never seen before"


def test_irregular_use_is_not_routine() -> None:
    cadence = classify_cadence(_days(3, 11, 12, 25), AT)
    assert cadence.kind == "irregular"
    assert not cadence.is_routine


def test_weekly_job_that_runs_off_schedule_breaks_the_pattern() -> None:
    # Runs every Sunday, then today is a Wednesday three days after the last run.
    wednesday = AT + timedelta(days=3)
    assert classify_cadence(_days(0, 7, 14, 21), wednesday).kind == "irregular"
    assert classify_cadence(_days(0, 7, 14, 21), AT + timedelta(days=7)).kind == "weekly"


def test_future_occurrences_are_ignored() -> None:
    cadence = classify_cadence([*_days(7, 14, 21), AT + timedelta(days=2)], AT)
    assert cadence.kind == "weekly"
    assert cadence.run_days == 4


def test_day_counts_report_the_typical_run_size() -> None:
    counts = {date(2026, 3, d): 3 for d in (1, 8, 15, 22)}
    cadence = classify_day_counts(counts, datetime(2026, 3, 1, 2), AT)
    assert cadence.kind == "weekly"
    assert cadence.median_per_day == 3.0
    assert "about 3 calls a run" in cadence.description
