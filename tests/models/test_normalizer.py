"""Score normalisation: knot points, ceilings, renormalisation and severity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trailspike.models.normalizer import (
    DEFAULT_HALF_LIFE,
    KNOT_POINTS,
    MAX_DECAY_PER_BUCKET,
    MAX_RAW,
    ScoreNormalizer,
    knot_score,
    probability_cap,
    raw_score,
    severity,
)


def test_knot_points_are_elastics() -> None:
    assert KNOT_POINTS == (
        (0.0, 0.0),
        (70.0, 1.0),
        (85.0, 1.2),
        (90.0, 1.5),
        (95.0, 3.0),
        (97.0, 20.0),
        (99.0, 50.0),
        (99.9, 90.0),
        (100.0, 100.0),
    )
    assert knot_score(99.9) == pytest.approx(90.0)


def test_weak_probabilities_never_score() -> None:
    norm = ScoreNormalizer()
    assert raw_score(0.04) == 0.0
    assert norm.normalize(0.04) == 0.0
    assert probability_cap(0.02) < 10.0


def test_first_big_anomaly_scores_high_and_is_renormalised_down_by_a_bigger_one() -> None:
    norm = ScoreNormalizer()
    rng = np.random.default_rng(0)
    for p in rng.uniform(0.05, 1.0, 3000):
        norm.observe(float(p))
    norm.observe(1e-8)
    initial = norm.normalize(1e-8)
    assert initial >= 90.0
    assert norm.renormalization_due()
    norm.mark_renormalized()
    assert not norm.renormalization_due()
    norm.observe(1e-40)  # a far bigger anomaly arrives
    assert norm.renormalization_due()
    again = norm.normalize(1e-8)  # the stored probability, re-normalised
    assert again < initial
    assert norm.normalize(1e-40) == 100.0


def test_confidence_caps_the_score() -> None:
    norm = ScoreNormalizer()
    norm.observe(1e-10)
    assert norm.normalize(1e-10, confidence=0.3) == pytest.approx(30.0)


def test_low_confidence_observations_do_not_set_the_scale() -> None:
    early = ScoreNormalizer()
    early.observe(1e-30, confidence=0.1)
    assert early.max_raw == pytest.approx(3.0)


def test_normalize_many_matches_normalize() -> None:
    norm = ScoreNormalizer()
    rng = np.random.default_rng(1)
    for p in rng.uniform(0, 1, 1000) ** 6:
        norm.observe(float(p))
    probs = np.concatenate([rng.uniform(0, 1, 50) ** 8, [1.0, 0.035, 1e-300]])
    conf = rng.uniform(0, 1, probs.size)
    expected = [norm.normalize(float(p), float(c)) for p, c in zip(probs, conf, strict=True)]
    assert np.allclose(norm.normalize_many(probs, conf), expected)


def test_old_history_ages_out() -> None:
    norm = ScoreNormalizer(half_life=100.0)
    for _ in range(100):
        norm.observe(1e-6)
    for _ in range(2000):
        norm.observe(0.5)
    # The early anomalies weigh ~2^-20 of the recent history now.
    assert norm.percentile(0.0) > 99.99


def test_severity_bands() -> None:
    assert [severity(s) for s in (100, 75, 74.9, 50, 25, 3, 2.9)] == [
        "critical",
        "critical",
        "major",
        "major",
        "minor",
        "warning",
        "low",
    ]


@pytest.mark.parametrize("half_life", [DEFAULT_HALF_LIFE, 1.0])
def test_observe_many_gives_the_history_of_observe_one_by_one(half_life: float) -> None:
    # half_life 1 doubles the weight per observation, so the rescale at 1e100 happens
    # (several times) inside one batch and must fall after the same observation.
    rng = np.random.default_rng(7)
    probabilities = np.concatenate(
        [rng.uniform(0, 1, 900), 10.0 ** -rng.uniform(1, 120, 300), [0.035, 0.0, 1.0]]
    )
    rng.shuffle(probabilities)
    one, many = ScoreNormalizer(half_life=half_life), ScoreNormalizer(half_life=half_life)
    for p in probabilities.tolist():
        one.observe(p)
    many.observe_many(probabilities[:500])
    many.observe_many([])
    many.observe_many(probabilities[500:].tolist())
    assert np.array_equal(one.counts, many.counts)
    assert one.weight == many.weight
    # The maximum ages once per call (one bucket): 1,203 buckets one by one, three in batches.
    assert many.max_raw == MAX_RAW and one.total > 0
    assert one.max_raw == pytest.approx(MAX_RAW * math.exp(-MAX_DECAY_PER_BUCKET), rel=0.5)


def test_the_maximum_ages_so_an_early_shock_stops_capping_later_anomalies() -> None:
    norm = ScoreNormalizer()
    norm.observe(1e-40)  # one early shock, e.g. a new seasonal profile's first misfits
    for _ in range(700):
        norm.observe(0.5)
    assert norm.max_raw == pytest.approx(40 * 0.5, rel=0.01)  # a half-life of ~700 buckets
    frozen = ScoreNormalizer(counts=norm.counts.copy(), weight=norm.weight, max_raw=40.0)
    # The ceiling of p = 1e-8 (raw 8) was 1.5 * 8 / 40 = 30; against the aged maximum it is 60.
    assert frozen.normalize(1e-8) == pytest.approx(30.0)
    assert norm.normalize(1e-8) > 55.0


def test_the_maximum_ages_with_time_when_a_job_skips_empty_buckets() -> None:
    # A quiet account: three buckets a day with errors, the rest empty and skipped. Counted per
    # bucket observed, one burst capped later scores for ~230 days instead of a week.
    span, day = 900.0, 86400.0
    by_time, by_count = ScoreNormalizer(), ScoreNormalizer()
    for norm in (by_time, by_count):
        norm.observe_many([0.5] * 2000)  # a long ordinary history before
        norm.observe_bucket([1e-40], 0.0, span)
    for k in range(1, 3 * 7 + 1):  # a week later
        start = (k // 3) * day + (k % 3) * 4 * 3600.0
        by_time.observe_bucket([0.5], start, span)
        by_count.observe_many([0.5])
    assert by_time.max_raw == pytest.approx(40 * math.exp(-0.001 * 672))  # 7 days of buckets
    assert by_count.max_raw > 39
    assert by_time.normalize(1e-8) > 55.0 > by_count.normalize(1e-8)
