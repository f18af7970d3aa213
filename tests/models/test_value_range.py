from __future__ import annotations

from trailspike.models.value_range import DAY, RANGE_DAYS, ValueRange


def test_a_baseline_inside_the_recent_range_is_left_alone() -> None:
    r = ValueRange()
    for k, v in enumerate((3.0, 9.0, 5.0)):
        r.add(k * 3600.0, v)
    assert r.clamp(4 * 3600.0, 4.2) == 4.2
    assert r.clamp(4 * 3600.0, -1.0) == 3.0
    assert r.clamp(4 * 3600.0, 20.0) == 9.0


def test_days_older_than_a_week_leave_the_range() -> None:
    r = ValueRange()
    r.add(0.0, 100.0)  # day 0: a high day
    for day in range(1, RANGE_DAYS + 1):
        r.add(day * DAY, 10.0)
    # On day 7, day 0 is the eighth day back: out of the range, so 100 is no longer reachable.
    assert r.clamp(RANGE_DAYS * DAY, 50.0) == 10.0
    assert len(r.days) == RANGE_DAYS


def test_the_range_spans_the_last_seven_days() -> None:
    r = ValueRange()
    r.add(0.0, 100.0)
    r.add((RANGE_DAYS - 1) * DAY, 10.0)  # day 6: day 0 is the seventh day back, still in
    assert r.clamp((RANGE_DAYS - 1) * DAY, 50.0) == 50.0


def test_no_history_leaves_the_baseline_alone() -> None:
    assert ValueRange().clamp(0.0, -7.5) == -7.5
