"""Property tests of the series model (hypothesis) and its learning behaviour."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailspike.models import series
from trailspike.models.factory import new_normalizer, new_series_model
from trailspike.models.series import TimeSeriesModel

SPAN = 900.0
DAY_BUCKETS = int(86400 / SPAN)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(finite, min_size=1, max_size=80),
    probe=finite,
    kind=st.sampled_from(["count", "metric"]),
    side=st.sampled_from(["high", "low", "both"]),
)
def test_probabilities_stay_in_unit_interval(
    values: list[float], probe: float, kind: str, side: str
) -> None:
    model = new_series_model(kind, side, SPAN)  # type: ignore[arg-type]
    for i, v in enumerate(values):
        s = model.score_one(i * SPAN, v)
        assert 0.0 < s.probability <= 1.0
        assert 0.0 < s.single_bucket_probability <= 1.0
        assert 0.0 < s.multi_bucket_probability <= 1.0
        model.learn_one(i * SPAN, v)
    s = model.score_one(len(values) * SPAN, probe)
    assert 0.0 < s.probability <= 1.0 and math.isfinite(s.typical)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lam=st.floats(1.0, 200.0),
    steps=st.lists(st.floats(0.0, 50.0), min_size=2, max_size=6),
)
def test_more_extreme_high_values_never_score_lower(
    seed: int, lam: float, steps: list[float]
) -> None:
    rng = np.random.default_rng(seed)
    model = new_series_model("count", "high", SPAN)
    for i, v in enumerate(rng.poisson(lam, 150)):
        model.learn_one(i * SPAN, float(v))
    t = 150 * SPAN
    upper = model.score_one(t, lam).upper
    values = np.cumsum([upper, *steps])  # beyond the 95 % bound, ever higher
    probs = [model.score_one(t, float(v)).probability for v in values]
    for a, b in itertools.pairwise(probs):
        assert b <= a * (1 + 1e-9)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), deltas=st.lists(st.floats(0.0, 30.0), min_size=2, max_size=6))
def test_two_sided_more_extreme_in_either_direction_never_scores_lower(
    seed: int, deltas: list[float]
) -> None:
    rng = np.random.default_rng(seed)
    model = new_series_model("metric", "both", SPAN)
    for i, v in enumerate(rng.normal(100.0, 5.0, 150)):
        model.learn_one(i * SPAN, float(v))
    t = 150 * SPAN
    bounds = model.score_one(t, 100.0)
    offsets = np.cumsum(deltas)
    for start, sign in ((bounds.upper, 1.0), (bounds.lower, -1.0)):
        probs = [model.score_one(t, start + sign * d).probability for d in offsets]
        for a, b in itertools.pairwise(probs):
            assert b <= a * (1 + 1e-9)


def _sine_day(i: int) -> float:
    return 100.0 + 30.0 * math.sin(2 * math.pi * i / DAY_BUCKETS)


def _run_sine(seed: int, days: int) -> tuple[TimeSeriesModel, list[float], object]:
    rng = np.random.default_rng(seed)
    model = new_series_model("metric", "both", SPAN)
    norm = new_normalizer()
    scores: list[float] = []
    for i in range(days * DAY_BUCKETS):
        v = _sine_day(i) + rng.normal(0.0, 2.0)
        s = model.score_one(i * SPAN, v)
        norm.observe(s.probability, s.confidence)
        scores.append(norm.normalize(s.probability, s.confidence))
        model.learn_one(i * SPAN, v)
    assert isinstance(model, TimeSeriesModel)
    return model, scores, norm


@settings(max_examples=3, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000))
def test_seasonal_sine_is_learnt_and_a_5_sigma_spike_on_it_scores_high(seed: int) -> None:
    model, scores, norm = _run_sine(seed, days=7)
    assert "daily" in model.decomposition.active_names()
    # After two periods the peaks (and everything else) stay below the alert threshold 50.
    peaks = [
        s for i, s in enumerate(scores) if i >= 2 * DAY_BUCKETS and i % DAY_BUCKETS in (23, 24, 25)
    ]
    assert max(peaks) < 50.0
    # A 5-sigma spike on top of a peak scores critical.
    i = 7 * DAY_BUCKETS + DAY_BUCKETS // 4
    s = model.score_one(i * SPAN, _sine_day(i) + 5 * 2.0)
    norm.observe(s.probability, s.confidence)  # type: ignore[attr-defined]
    assert norm.normalize(s.probability, s.confidence) >= 75.0  # type: ignore[attr-defined]


def test_sustained_rise_scores_through_the_multi_bucket_view() -> None:
    rng = np.random.default_rng(1)
    model = new_series_model("metric", "high", SPAN)
    for i in range(600):
        model.learn_one(i * SPAN, 50.0 + rng.normal(0, 3.0))
    impacts, probs = [], []
    for i in range(600, 636):  # +1.5 sd for 36 buckets: no single bucket is extreme
        v = 54.5 + rng.normal(0, 0.5)
        s = model.score_one(i * SPAN, v)
        impacts.append(s.multi_bucket_impact)
        probs.append(s.probability)
        model.learn_one(i * SPAN, v)
    peak = int(np.argmin(probs))
    assert probs[peak] < 1e-4 and peak < 12  # detected within the first window
    assert impacts[peak] > 0  # the run of buckets, not one bucket, explains it
    # Once reported, the anomaly is the change, not the new level: it does not keep scoring.
    assert all(p > 1e-3 for p in probs[peak + 1 :])


def test_a_continuing_rise_is_not_reported_again_as_soon_as_the_window_refills() -> None:
    # A rise that goes on (0.1 sd a bucket for 18 hours): once reported, the change is adopted
    # and the window restarts; the refilled window sees the rise again. Without the hold that
    # second report came 13 buckets after the first.
    rng = np.random.default_rng(1)
    model = new_series_model("metric", "high", SPAN)
    for i in range(600):
        model.learn_one(i * SPAN, 50.0 + rng.normal(0, 3.0))
    reports = []
    for k in range(72):
        v = 50.0 + 0.3 * k + rng.normal(0, 3.0)
        s = model.score_one((600 + k) * SPAN, v)
        if s.probability < 1.5e-4:
            reports.append(k)
        model.learn_one((600 + k) * SPAN, v)
    assert reports and reports[0] < 24  # the rise is reported
    assert not [k for k in reports if reports[0] < k <= reports[0] + 24]


def test_the_hold_after_a_reported_change_only_raises_reports_in_its_direction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two models see the same values, one without the hold: they learn the same, and differ
    # only in the multi-bucket probability of windows on the reported side, within the hold.
    def run() -> list[tuple[float, float, float]]:
        rng = np.random.default_rng(1)
        model = new_series_model("metric", "both", SPAN)
        for i in range(600):
            model.learn_one(i * SPAN, 50.0 + rng.normal(0, 3.0))
        out = []
        for k in range(60):  # a rise that goes on, then a fall below the old level
            v = (50.0 + 0.3 * k if k < 36 else 40.0) + rng.normal(0, 3.0)
            s = model.score_one((600 + k) * SPAN, v)
            out.append((s.typical, s.multi_bucket_probability, model.since_adoption))
            model.learn_one((600 + k) * SPAN, v)
        return out

    held = run()
    monkeypatch.setattr(series, "HOLD_FACTOR", 1.0)
    free = run()
    assert [h[0] for h in held] == [f[0] for f in free]  # the same learning
    raised = [k for k, (h, f) in enumerate(zip(held, free, strict=True)) if h[1] != f[1]]
    assert raised  # the continuing rise is held at least once ...
    for k in raised:  # ... by the factor, and only within the hold
        assert held[k][1] == pytest.approx(min(1.0, 10.0 * free[k][1]))
        assert held[k][2] < series.HOLD_BUCKETS
    # The fall goes the other way: its first report is not held.
    fall = next(k for k in range(36, 60) if free[k][1] < 1.5e-4)
    assert held[fall][1] == free[fall][1]


@pytest.mark.parametrize(
    ("errors_per_bucket", "seeds"),
    [
        (0.42, range(10)),  # a quiet trail: 0-2 distinct messages in a bucket, usually none
        (10.0, range(6)),  # a steady one: the three messages in most buckets
    ],
)
def test_a_few_recurring_error_messages_raise_no_alert(
    errors_per_bucket: float, seeds: range
) -> None:
    # Errors picked at random from three messages; buckets with none have no value, as in
    # the spike job. Under a continuous shape fitted to such counts, P(X <= x) put the usual
    # count high on the normal scale and drifting with the shape (a 3 where counts are 3
    # almost always: z 0.8-2.3), so windows of ordinary buckets scored 1e-5.
    for seed in seeds:
        rng = np.random.default_rng(seed)
        model = new_series_model("count", "high", SPAN)
        for i in range(DAY_BUCKETS * 14):
            errors = rng.poisson(errors_per_bucket)
            if errors == 0:
                continue
            value = float(len(set(rng.integers(0, 3, errors))))
            s = model.score_one(i * SPAN, value)
            assert i < 2 * DAY_BUCKETS or s.probability > 1.5e-4, (seed, i, value)
            model.learn_one(i * SPAN, value)


@pytest.mark.parametrize(("quiet", "busy", "messages"), [(0.3, 6.0, 20), (1.0, 15.0, 40)])
def test_a_workday_pattern_of_errors_raises_no_alert_on_quiet_weekends(
    quiet: float, busy: float, messages: int
) -> None:
    # Errors at ``busy`` a bucket in working hours (08-18, Monday to Friday), ``quiet`` otherwise,
    # each one of ``messages``; empty buckets have no value, as in the spike job. The daily
    # profile's busy hours pulled the fast level below zero on weekends, and a Saturday
    # evening's one or two messages then read as far above a baseline of -1 (p ~ 1e-5): two to
    # four false alerts a week, week after week.
    rng = np.random.default_rng(0)
    model = new_series_model("count", "high", SPAN)
    monday = 4 * DAY_BUCKETS  # t = 0 is a Thursday
    alerts = []
    for i in range(monday, monday + 4 * 7 * DAY_BUCKETS):
        weekday, hour = (i - monday) // DAY_BUCKETS % 7, (i % DAY_BUCKETS) * SPAN / 3600
        errors = rng.poisson(busy if weekday < 5 and 8 <= hour < 18 else quiet)
        if errors == 0:
            continue
        value = float(len(set(rng.integers(0, messages, errors))))
        s = model.score_one(i * SPAN, value)
        if i >= monday + 2 * DAY_BUCKETS and s.probability <= 1.5e-4:
            alerts.append((weekday, hour, value))
        model.learn_one(i * SPAN, value)
    # Working days may still start with an alert-level first hour in the first weeks, while
    # the weekly profile is young; quiet weekends must not alert.
    assert [a for a in alerts if a[0] >= 5] == []
    assert len(alerts) <= 2


def test_a_repeated_value_is_never_anomalous() -> None:
    # A single error message repeated all day: distinct count 1 in every bucket.
    model = new_series_model("count", "high", SPAN)
    for i in range(500):
        assert model.score_one(i * SPAN, 1.0).probability > 0.1
        model.learn_one(i * SPAN, 1.0)


def test_level_shift_is_adopted_and_stops_scoring() -> None:
    rng = np.random.default_rng(2)
    model = new_series_model("metric", "both", SPAN)
    for i in range(400):
        model.learn_one(i * SPAN, 20.0 + rng.normal(0, 1.0))
    first = model.score_one(400 * SPAN, 40.0).probability
    for i in range(400, 500):
        model.learn_one(i * SPAN, 40.0 + rng.normal(0, 1.0))
    later = model.score_one(500 * SPAN, 40.0).probability
    assert first < 1e-6 and later > 0.01


def test_one_burst_does_not_become_the_new_normal() -> None:
    rng = np.random.default_rng(3)
    model = new_series_model("count", "high", SPAN)
    for i in range(400):
        model.learn_one(i * SPAN, float(rng.poisson(10)))
    for i in range(400, 403):  # a three-bucket attack
        model.learn_one(i * SPAN, 200.0)
    for i in range(403, 420):
        model.learn_one(i * SPAN, float(rng.poisson(10)))
    again = model.score_one(420 * SPAN, 200.0)
    assert again.probability < 0.01  # still anomalous
    assert again.typical < 15.0 and again.upper < 30.0  # the baseline did not move up


def test_confidence_grows_with_history() -> None:
    model = new_series_model("metric", "both", SPAN)
    confidences = []
    for i in range(300):
        confidences.append(model.score_one(i * SPAN, 5.0).confidence)
        model.learn_one(i * SPAN, 5.0)
    assert confidences[0] == 0.0 and confidences[-1] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(confidences))


def test_residual_distribution_is_chosen_by_evidence() -> None:
    rng = np.random.default_rng(4)
    counts = new_series_model("count", "high", SPAN)
    for i, v in enumerate(rng.poisson(3.0, 800)):
        counts.learn_one(i * SPAN, float(v))
    skewed = new_series_model("metric", "high", SPAN)
    for i, v in enumerate(rng.lognormal(2.0, 0.8, 800)):
        skewed.learn_one(i * SPAN, float(v))
    assert isinstance(counts, TimeSeriesModel) and isinstance(skewed, TimeSeriesModel)
    assert counts.residuals.best() in ("poisson", "negbin")
    assert skewed.residuals.best() in ("lognormal", "gamma")


def _low_counts(model: TimeSeriesModel | object, days: int, rng: np.random.Generator) -> int:
    """Learn ``days`` of quiet low counts (Poisson 1.7 a bucket); return the next bucket."""
    n = days * DAY_BUCKETS
    for i in range(n):
        model.learn_one(i * SPAN, float(rng.poisson(1.7)))  # type: ignore[attr-defined]
    return n


def test_a_past_attack_does_not_mute_the_next_one() -> None:
    # Low distinct counts; a burst (16, 47, 8) at 03:00 on day 7, then a bucket of 12 at any
    # time of the next day. The first burst must not teach the model that bursts are routine
    # (before: p ~ 1e-3, the one past episode made every hour's outlier rate ~ 1e-3). Judged
    # over five trails and a day of buckets: one bucket's probability swings tenfold with the
    # level's noise. Known: the burst still widens the count shape, so a 12 is ~2e-4 for a day
    # instead of ~2e-6 (docs/models.md, session 10).
    medians = []
    for seed in range(5, 10):
        rng = np.random.default_rng(seed)
        model = new_series_model("count", "high", SPAN)
        i = _low_counts(model, 7, rng) + 12  # 03:00
        assert model.score_one(i * SPAN, 16.0).single_bucket_probability < 1e-4
        for v in (16.0, 47.0, 8.0):
            model.learn_one(i * SPAN, v)
            i += 1
        probabilities = []
        for _ in range(DAY_BUCKETS):
            probabilities.append(model.score_one(i * SPAN, 12.0).single_bucket_probability)
            model.learn_one(i * SPAN, float(rng.poisson(1.7)))
            i += 1
        medians.append(float(np.median(probabilities)))
    assert max(medians) < 1e-3 and float(np.median(medians)) < 5e-4


def test_a_routine_nightly_spike_stops_being_alert_level() -> None:
    rng = np.random.default_rng(6)
    model = new_series_model("count", "high", SPAN)
    first = last = 1.0
    for i in range(10 * DAY_BUCKETS):
        nightly = i % DAY_BUCKETS == 8 and i > DAY_BUCKETS  # 02:00 from the second night
        v = 25.0 if nightly else float(rng.poisson(1.7))
        if nightly:
            p = model.score_one(i * SPAN, v).probability
            first, last = (p, p) if first == 1.0 else (first, p)
        model.learn_one(i * SPAN, v)
    assert first < 1e-6  # the first night is anomalous
    assert last > 1e-3  # by the tenth it is routine: far from alert level


def test_frequent_random_bursts_become_routine() -> None:
    # ~3 bursts of 20-40 a day at random times on counts of ~2: after the first days they are
    # this series' normal noise (the learning weight of an outlier must not stop that).
    rng = np.random.default_rng(11)
    model = new_series_model("count", "high", SPAN)
    n = 14 * DAY_BUCKETS
    bursts = set(rng.choice(np.arange(DAY_BUCKETS, n), size=40, replace=False).tolist())
    late_alerts = 0
    for i in range(n):
        v = float(rng.integers(20, 40)) if i in bursts else float(rng.poisson(2.0))
        p = model.score_one(i * SPAN, v).probability
        late_alerts += i in bursts and i >= 3 * DAY_BUCKETS and p < 1.5e-4
        model.learn_one(i * SPAN, v)
    assert late_alerts == 0


def _max_score_after_warm_up(values: np.ndarray, kind: str, warm_up: int) -> float:
    model = new_series_model(kind, "both", 300.0)  # type: ignore[arg-type]
    normalizer = new_normalizer()
    top = 0.0
    for i, v in enumerate(values):
        s = model.score_one(i * 300.0, float(v))
        normalizer.observe(s.probability, s.confidence)
        if i >= warm_up:
            top = max(top, normalizer.normalize(s.probability, s.confidence))
        model.learn_one(i * 300.0, float(v))
    return top


def test_a_metric_that_is_a_count_gets_count_tails() -> None:
    # A NAB-style metric series of tweet or request counts: a 10 where 3 is typical happens
    # about once in a thousand Poisson(3) buckets, so two weeks of it must not raise an alert
    # (the normal's tail called it 5e-5, a score of 100).
    rng = np.random.default_rng(1)
    counts = rng.poisson(3.0, 4032)
    assert _max_score_after_warm_up(counts, "metric", 600) < 50
    model = new_series_model("metric", "both", 300.0)
    for i, v in enumerate(counts[:2000]):
        model.learn_one(i * 300.0, float(v))
    assert isinstance(model, TimeSeriesModel)
    assert model.residuals.reference() == "negbin"


def test_sparse_counts_raise_no_alert_for_an_ordinary_two() -> None:
    # Mostly zeros (0.05 a bucket): a 2 is a 1e-3 event. Two faults made it 1e-5: a normal
    # density far above 1 at 0 beat the count candidates on evidence, and each 1 (four sd
    # away) was learnt at a fraction of its weight, biasing the rate low.
    rng = np.random.default_rng(2)
    counts = rng.poisson(0.05, 4032)
    assert (counts >= 2).sum() >= 3  # the test has twos to judge
    for kind in ("metric", "count"):
        assert _max_score_after_warm_up(counts, kind, 600) < 50


def test_fractional_values_rule_out_the_count_candidates() -> None:
    rng = np.random.default_rng(3)
    model = new_series_model("metric", "both", 300.0)
    for i, v in enumerate(rng.poisson(3.0, 300)):
        model.learn_one(i * 300.0, float(v) + (0.5 if i == 150 else 0.0))
    assert isinstance(model, TimeSeriesModel)
    assert "negbin" not in model.residuals.candidates()
    assert model.residuals.reference() == "normal"


def test_a_weekend_drop_is_learnt_as_a_day_of_week_pattern() -> None:
    # Half-hourly values with a daily swing and weekends 300 lower (noise sd 40). Before the
    # day-of-week component, the 168-bin weekly profile had two noisy values a bin a week and
    # a test against a level that had already absorbed each weekend: it was never used, and
    # every weekend's start and end raised alerts, week after week (at least six a series in
    # weeks 4-6). Ten noise seeds, so one unlucky bucket does not decide: 14 alerts in all now,
    # 20 before the rebased tests kept half their weight (session 13).
    span, day = 1800.0, 48
    n = 6 * 7 * day
    i = np.arange(n)
    weekend = np.isin((i // day) % 7, (2, 3))  # t = 0 is a Thursday
    late_alerts = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        model = new_series_model("metric", "both", span)
        normalizer = new_normalizer()
        values = 1000 + 400 * np.sin(2 * np.pi * (i % day) / day) - 300 * weekend
        values = values + rng.normal(0, 40, n)
        for k, v in enumerate(values):
            s = model.score_one(k * span, float(v))
            normalizer.observe(s.probability, s.confidence)
            score = normalizer.normalize(s.probability, s.confidence)
            late_alerts += k >= 3 * 7 * day and score >= 50
            model.learn_one(k * span, float(v))
        assert isinstance(model, TimeSeriesModel)
        assert "weekday" in model.decomposition.active_names()
    assert late_alerts <= 20  # weeks 4-6: at most two a series, where it was six or more


def test_weekends_that_scale_the_day_down_are_learnt_soon_after_two_weeks() -> None:
    # Hourly values whose weekends are a third of the weekdays at every hour (a multiplicative
    # week: the day-of-week step cannot fit it, the 168-bin profile must). When the day-of-week
    # component came into use after two weeks, the weekly profile's test restarted with all its
    # old weight at "no gain": it was used from day 19.4-19.6 (five seeds) and the third
    # weekend's first hours raised 3-5 alerts; now from day 14.2-14.3 and 1-2 alerts.
    span, day = 3600.0, 24
    rng = np.random.default_rng(1)
    model = new_series_model("metric", "both", span)
    assert isinstance(model, TimeSeriesModel)
    normalizer = new_normalizer()
    i = np.arange(4 * 7 * day)  # t = 0 is a Thursday: t = 4 days is a Monday
    hours = i + 4 * day
    factor = np.where(np.isin((hours // day) % 7, (2, 3)), 0.3, 1.0)  # Saturdays, Sundays
    values = 1000 * factor * (1.2 + np.sin(2 * np.pi * (i % day) / day)) + rng.normal(0, 40, i.size)
    weekly_from = None
    third_weekend_alerts = 0
    for k, v in enumerate(values):
        t = float(hours[k]) * span
        s = model.score_one(t, float(v))
        normalizer.observe(s.probability, s.confidence)
        score = normalizer.normalize(s.probability, s.confidence)
        third_weekend_alerts += 19 * day <= k < 21 * day and score >= 50
        model.learn_one(t, float(v))
        if weekly_from is None and "weekly" in model.decomposition.active_names():
            weekly_from = k / day
    assert weekly_from is not None and weekly_from < 15
    assert third_weekend_alerts <= 2  # 4 before


def _scores(values: np.ndarray, span: float = 300.0) -> tuple[TimeSeriesModel, list[float]]:
    """Normalised 0-100 scores of each value, as the NAB detector computes them."""
    model = new_series_model("metric", "both", span)
    assert isinstance(model, TimeSeriesModel)
    normalizer = new_normalizer()
    out = []
    for k, v in enumerate(values):
        s = model.score_one(k * span, float(v))
        normalizer.observe(s.probability, s.confidence)
        out.append(normalizer.normalize(s.probability, s.confidence))
        model.learn_one(k * span, float(v))
    return model, out


def test_a_square_wave_is_learnt_sharply_and_a_day_stuck_high_scores_at_once() -> None:
    # A daily 20/80 square wave (a batch window, a shift pattern) at five-minute buckets. The
    # hourly daily profile smooths each step over an hour: the misfits at every step made the
    # spread ~6 on a noiseless series, and a wave stuck high for six hours scored 0.19. The
    # daily detail (a step per bucket) learns what the hourly profile leaves.
    day = 288
    i = np.arange(14 * day)
    wave = np.where(i % day < day // 2, 80.0, 20.0)
    stuck = wave.copy()
    stuck[10 * day + day // 2 : 10 * day + day // 2 + 72] = 80.0
    model, scores = _scores(stuck)
    assert "daily detail" in model.decomposition.active_names()
    assert max(scores[7 * day : 10 * day + day // 2]) < 50  # days 8-10 are learnt
    assert max(scores[10 * day + day // 2 : 10 * day + day // 2 + 3]) >= 75


def test_the_daily_detail_stays_in_use_when_the_hourly_profile_switches_on() -> None:
    # A noisy square wave: the detail (a step per bucket) is used first, then the hourly
    # profile. Switching the hourly one on restarted the detail's test at a ratio above its
    # switch-off gain, so the detail was dropped for six days and every step was smeared.
    day, span = 288, 300.0
    rng = np.random.default_rng(1)
    i = np.arange(14 * day)
    wave = np.where(i % day < day // 2, 80.0, 20.0) + rng.normal(0, 4, i.size)
    model = new_series_model("metric", "both", span)
    in_use = []
    for k, v in enumerate(wave):
        model.score_one(k * span, float(v))
        model.learn_one(k * span, float(v))
        if k % day == day - 1:
            in_use.append(model.decomposition.active_names())
    first = next(d for d, names in enumerate(in_use) if "daily detail" in names)
    assert any("daily" in names for names in in_use[first:])
    assert all("daily detail" in names for names in in_use[first:])


def test_one_value_after_a_gap_does_not_become_the_level() -> None:
    # Buckets without data (a quiet night for a distinct count, a collector down) are skipped.
    # The level took the first value after a long gap almost whole, and the next buckets were
    # judged against that one noisy value: white noise alerted after a two-day gap.
    span = 300.0
    rng = np.random.default_rng(8)
    model = new_series_model("metric", "both", span)
    for k in range(900):
        v = float(50 + rng.normal(0, 5))
        model.score_one(k * span, v)
        model.learn_one(k * span, v)
    after = (900 + 576) * span  # two days later
    model.score_one(after, 65.0)
    model.learn_one(after, 65.0)  # three standard deviations high, once
    assert abs(model.decomposition.baseline(after + span) - 50) < 3
    # A level that really moved during the gap is followed within hours.
    for k in range(1, 49):
        v = float(80 + rng.normal(0, 5))
        model.score_one(after + k * span, v)
        model.learn_one(after + k * span, v)
    assert model.decomposition.baseline(after + 49 * span) > 75


def test_the_daily_detail_stays_off_on_a_noisy_smooth_cycle() -> None:
    # One value a bin a day: on a smooth cycle with noise the detail would only add noise.
    rng = np.random.default_rng(4)
    i = np.arange(10 * 288)
    model, _ = _scores(50 + 30 * np.sin(2 * np.pi * i / 288) + rng.normal(0, 3, i.size))
    assert model.decomposition.active_names() == ["daily"]


def test_a_return_to_the_level_before_a_shift_is_a_recovery_not_an_anomaly() -> None:
    # CPU at ~93 drops to ~25 for ten hours (an outage: alerted, then adopted as the new
    # level), then comes back. Before, the return was judged against the adopted level and
    # scored 80-100 for nine buckets.
    rng = np.random.default_rng(5)
    values = 93 + rng.normal(0, 1.5, 4 * 288)
    values[700:820] = 25 + rng.normal(0, 1.5, 120)
    _, scores = _scores(values)
    assert max(scores[700:712]) >= 50  # the drop
    assert max(scores[820:]) < 50  # the recovery


def test_a_state_saved_before_the_value_range_loads_and_scores() -> None:
    model = new_series_model("count", "high", SPAN)
    for i in range(50):
        model.score_one(i * SPAN, 2.0)
        model.learn_one(i * SPAN, 2.0)
    state = dict(model.__dict__)
    del state["value_range"]
    old = TimeSeriesModel.__new__(TimeSeriesModel)
    old.__setstate__(state)
    assert old.score_one(50 * SPAN, 2.0).probability > 0.1
    old.learn_one(50 * SPAN, 2.0)
    assert old.value_range.days  # filled from here on


def test_a_stuck_sensor_is_found_and_one_sided_detectors_ignore_it() -> None:
    # Continuous readings that suddenly repeat the same value exactly (a frozen agent): every
    # value is near the baseline, so only the run of repeats is unusual.
    rng = np.random.default_rng(3)
    values = 40 + rng.normal(0, 5, 3300)
    values[3000:] = values[2999]
    for side, expect_alert in (("both", True), ("high", False)):
        model = new_series_model("metric", side, 300.0)
        lowest, repeated = 1.0, 0
        for k, v in enumerate(values):
            s = model.score_one(k * 300.0, float(v))
            if 3000 <= k < 3003 and s.probability < lowest:
                lowest, repeated = s.probability, s.repeated_buckets
            model.learn_one(k * 300.0, float(v))
        assert (lowest < 1e-4) == expect_alert, (side, lowest)
        assert repeated == (3 if expect_alert else 0)  # reported with the run's length
