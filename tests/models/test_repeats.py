from __future__ import annotations

import numpy as np

from trailspike.models.repeats import MAX_REPEAT_RATE, RepeatModel


def _learnt(values: np.ndarray) -> RepeatModel:
    m = RepeatModel()
    for v in values:
        m.learn(float(v), 0.999)
    return m


def test_a_run_of_repeats_in_a_continuous_series_gets_rarer_with_its_length() -> None:
    m = _learnt(np.random.default_rng(0).normal(40, 5, 2000))
    stuck = 41.25
    probabilities = []
    for _ in range(4):
        probabilities.append(m.probability(stuck))
        m.learn(stuck, 0.999)
    assert probabilities[0] == 1.0  # the first value of the run repeats nothing
    assert probabilities[1] > 1.5e-4  # one repeat can happen by chance
    assert probabilities[1] > probabilities[2] > probabilities[3]
    assert probabilities[3] < 1.5e-4  # three in a row: alert-level


def test_series_whose_values_often_repeat_are_not_judged() -> None:
    rng = np.random.default_rng(1)
    for values in (rng.poisson(0.3, 2000), np.where(rng.random(2000) < 0.4, 2, 1) / 15):
        m = _learnt(values.astype(float))
        assert m.rate() > MAX_REPEAT_RATE
        last = m.last
        for _ in range(30):
            assert m.probability(last) == 1.0
            m.learn(last, 0.999)


def test_a_young_series_is_not_judged() -> None:
    m = _learnt(np.arange(50, dtype=float))
    m.learn(49.0, 0.999)
    assert m.probability(49.0) == 1.0
