"""River-style contract checks run over every model the factory makes."""

from __future__ import annotations

import itertools
import math
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from trailspike.models.base import BucketScore
from trailspike.models.factory import (
    dump_state,
    load_state,
    memory_bytes,
    new_normalizer,
    new_population_model,
    new_rare_model,
    new_series_model,
)

SPAN = 900.0
SERIES_FACTORIES: dict[str, Callable[[], Any]] = {
    f"{kind}-{side}": (lambda kind=kind, side=side: new_series_model(kind, side, SPAN))
    for kind in ("count", "metric")
    for side in ("high", "low", "both")
}
RARE_FACTORIES: dict[str, Callable[[], Any]] = {
    "rare": lambda: new_rare_model(3600.0),
    "freq_rare": lambda: new_rare_model(3600.0, frequency_weighted=True),
    "rare-population": lambda: new_rare_model(3600.0, population=new_population_model()),
}


def _series_values(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(20.0, n).astype(float)


@pytest.mark.parametrize("name", sorted(SERIES_FACTORIES))
def test_series_model_scores_are_valid_before_and_after_learning(name: str) -> None:
    model = SERIES_FACTORIES[name]()
    first = model.score_one(0.0, 5.0)
    assert isinstance(first, BucketScore)
    assert first.probability == 1.0 and first.confidence == 0.0
    for i, v in enumerate(_series_values(300)):
        s = model.score_one(i * SPAN, float(v))
        assert 0.0 < s.probability <= 1.0
        assert 0.0 <= s.confidence <= 1.0
        assert s.lower <= s.upper
        assert -5.0 <= s.multi_bucket_impact <= 5.0
        assert math.isfinite(s.typical)
        model.learn_one(i * SPAN, float(v))


@pytest.mark.parametrize("name", sorted(SERIES_FACTORIES))
def test_series_model_state_round_trip_gives_identical_scores(name: str) -> None:
    model = SERIES_FACTORIES[name]()
    values = _series_values(200, seed=1)
    for i, v in enumerate(values[:150]):
        model.learn_one(i * SPAN, float(v))
    clone = load_state(dump_state(model))
    for i, v in enumerate(values[150:], start=150):
        assert model.score_one(i * SPAN, float(v)) == clone.score_one(i * SPAN, float(v))
        model.learn_one(i * SPAN, float(v))
        clone.learn_one(i * SPAN, float(v))
    assert memory_bytes(model) > 0


@pytest.mark.parametrize("name", sorted(SERIES_FACTORIES))
def test_series_model_ignores_non_finite_values(name: str) -> None:
    model = SERIES_FACTORIES[name]()
    model.learn_one(0.0, 1.0)
    model.learn_one(SPAN, math.nan)
    assert model.score_one(2 * SPAN, math.inf).probability == 1.0


@pytest.mark.parametrize("name", sorted(RARE_FACTORIES))
def test_rare_model_probabilities_are_valid_and_picklable(name: str) -> None:
    model = RARE_FACTORIES[name]()
    rng = np.random.default_rng(2)
    methods = ["GetObject", "PutObject", "ListBuckets", "DescribeInstances"]
    for i in range(100):
        counts = {str(m): int(rng.integers(1, 5)) for m in rng.choice(methods, 2, replace=False)}
        probs = model.score_bucket(i * 3600.0, counts)
        assert set(probs) == set(counts)
        assert all(0.0 < p <= 1.0 for p in probs.values())
        model.learn_bucket(i * 3600.0, counts)
    clone = pickle.loads(pickle.dumps(model))
    bucket = {"DeleteTrail": 1, "GetObject": 3}
    assert clone.score_bucket(1e6, bucket) == model.score_bucket(1e6, bucket)


def test_normalizer_scores_are_in_range_and_monotone() -> None:
    norm = new_normalizer()
    rng = np.random.default_rng(3)
    for p in rng.uniform(0, 1, 2000) ** 4:
        norm.observe(float(p))
    probs = np.logspace(-40, 0, 200)
    scores = [norm.normalize(float(p)) for p in probs]
    assert all(0.0 <= s <= 100.0 for s in scores)
    assert all(a >= b for a, b in itertools.pairwise(scores))
    assert np.allclose(norm.normalize_many(probs), scores)
