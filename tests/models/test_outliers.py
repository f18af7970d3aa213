"""Unit tests of the outlier model: rates by hour, running episodes, learning weights."""

from __future__ import annotations

import pytest

from trailspike.models.outliers import PRIOR_RATE, OutlierModel

SPAN = 900.0
HOUR = 3600.0


def _quiet(model: OutlierModel, buckets: int, start: float = 0.0) -> float:
    """Learn ``buckets`` ordinary buckets from ``start``; return the next bucket's time."""
    t = start
    for _ in range(buckets):
        model.learn(t, 0.1, False, 1.0)
        t += SPAN
    return t


def test_rate_starts_at_the_prior_and_learns_a_routine_hour() -> None:
    model = OutlierModel(SPAN)
    assert model.rate(0.0) == pytest.approx(PRIOR_RATE)
    t = 0.0
    for _day in range(10):  # an outlier every day at 02:00
        for q in range(96):
            at = t + q * SPAN
            model.learn(at, 8.0 if q == 8 else 0.1, q == 8, 1.0)
        t += 86400.0
    routine, quiet = model.rate(t + 2 * HOUR), model.rate(t + 14 * HOUR)
    assert routine > 0.05  # ten of the ~40 buckets seen at 02:00
    assert quiet < routine / 10


def test_a_running_episode_does_not_explain_itself() -> None:
    model = OutlierModel(SPAN)
    t = _quiet(model, 2000)
    before_rate, before_share = model.rate(t), model.share_beyond(9.0)
    model.learn(t, 10.0, True, 1.0)  # first bucket of a burst, learnt in full
    # The burst's next bucket is judged as the first was: its own count and size left out.
    assert model.rate(t + SPAN) == pytest.approx(before_rate, rel=0.02)  # one more bucket seen
    assert model.share_beyond(9.0) == pytest.approx(before_share)
    model.learn(t + SPAN, 0.1, False, 1.0)  # the burst ends: now it is history
    assert model.rate(t + 2 * SPAN) > 10 * before_rate
    assert model.share_beyond(9.0) > before_share


def _after_one_outlier(size: float, weight: float, quiet_after: int) -> OutlierModel:
    """2000 quiet buckets, one outlier of ``size`` learnt at ``weight``, then quiet again."""
    model = OutlierModel(SPAN)
    t = _quiet(model, 2000)
    model.learn(t, size, True, 1.0, weight)
    _quiet(model, quiet_after, t + SPAN)
    return model


def test_a_light_outlier_counts_only_its_weight() -> None:
    full, light = _after_one_outlier(20.0, 1.0, 1), _after_one_outlier(20.0, 0.01, 1)
    t = 2002 * SPAN + 12 * HOUR  # another hour of the day
    assert full.rate(t) > 5 * light.rate(t)
    assert light.rate(t) < 2 * PRIOR_RATE


def test_a_light_outlier_does_not_make_its_size_routine_when_sizes_are_weighed() -> None:
    # A past attack (learnt at 0.01) followed by the same attack a day later. Counted by size
    # alone, the first made the second "within the sizes seen" (a share of ~0.5, a 40-fold
    # rise on the prior's tail); weighed, it adds about its weight.
    light, routine = _after_one_outlier(40.0, 0.01, 96), _after_one_outlier(40.0, 1.0, 96)
    assert light.share_beyond(39.0) > 0.4
    assert light.share_beyond(39.0, weigh_sizes=True) < 0.03
    # A routine outlier, learnt in full, keeps its size routine either way.
    assert routine.share_beyond(39.0, weigh_sizes=True) == pytest.approx(routine.share_beyond(39.0))
    # Beyond every size seen, both read the same.
    assert light.share_beyond(80.0, weigh_sizes=True) == pytest.approx(light.share_beyond(80.0))
