"""Count series: what an outlier bucket teaches the model (the spike job's kind of series)."""

from __future__ import annotations

import numpy as np

from trailspike.models.factory import new_series_model

SPAN = 900.0
DAY = 86400.0


def test_a_burst_on_a_sparse_trail_does_not_widen_the_learnt_spread() -> None:
    # One to three buckets a day with an error or two (a quiet account), then one burst of
    # 142 and 155 distinct messages. The spread grew from ~0.6 to ~15 (the burst's square
    # at the weight its normal score allows), and for a week a burst as big was p ~ 1e-2.
    rng = np.random.default_rng(0)
    model = new_series_model("count", "high", SPAN)

    def feed(t: float, value: float) -> None:
        model.score_one(t, value)
        model.learn_one(t, value)

    for day in range(60):
        for b in sorted(rng.choice(np.arange(20, 96), size=rng.integers(1, 4), replace=False)):
            feed(day * DAY + int(b) * SPAN, float(1 + rng.poisson(0.3)))
    before = model.residuals.sd()
    feed(60 * DAY + 12 * SPAN, 142.0)
    feed(60 * DAY + 13 * SPAN, 155.0)
    assert 0.2 < before < 1.5
    assert model.residuals.sd() < 1.5 * before
    # The same burst the next day is still far beyond the routine (before: p ~ 2e-2, the
    # spread widened, then the mixture taking the burst as a second mode).
    assert model.score_one(61 * DAY + 12 * SPAN, 142.0).probability < 1e-3


def test_a_rare_count_still_learns_its_ones() -> None:
    # The pull-in is rounded outwards: at a rate of 0.05 a 1 is an outlier by its distance but
    # routine by its frequency, and must keep teaching the rate.
    rng = np.random.default_rng(2)
    model = new_series_model("count", "high", SPAN)
    for k in range(4000):
        v = float(rng.poisson(0.05))
        model.score_one(k * SPAN, v)
        model.learn_one(k * SPAN, v)
    assert model.score_one(4000 * SPAN, 1.0).probability > 0.01


def test_one_burst_does_not_switch_a_profile_on_in_a_series_of_ones() -> None:
    # Single errors, 1-3 buckets a day: the errors without a daily profile are ~0.01, and a
    # burst's clipped buckets decided its test. The profile switched on, the residual
    # statistics were forgotten, and the same burst the next day was p ~ 1e-2.
    rng = np.random.default_rng(0)
    model = new_series_model("count", "high", SPAN)

    def feed(t: float, value: float) -> float:
        p = model.score_one(t, value).probability
        model.learn_one(t, value)
        return p

    for day in range(60):
        for b in sorted(rng.choice(np.arange(20, 96), size=rng.integers(1, 4), replace=False)):
            feed(day * DAY + int(b) * SPAN, 1.0)
    feed(60 * DAY + 12 * SPAN, 142.0)
    feed(60 * DAY + 13 * SPAN, 155.0)
    for b in (40, 70):
        feed(60 * DAY + b * SPAN, 1.0)
    assert model.decomposition.active_names() == []
    assert feed(61 * DAY + 12 * SPAN, 138.0) < 1e-3
