"""Rare/freq_rare category models with the population prior."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailspike.models.factory import new_normalizer, new_population_model, new_rare_model
from trailspike.models.rare import CategoryModel, PopulationModel
from trailspike.models.rare_scoring import learn_partitions, score_bucket

HOUR = 3600.0
ROUTINE = ["GetObject", "ListBuckets", "DescribeInstances", "AssumeRole"]


def _train_users(days: int = 14) -> tuple[PopulationModel, dict[str, CategoryModel]]:
    pop = new_population_model()
    users = {f"user{i}": new_rare_model(HOUR, population=pop) for i in range(10)}
    rng = np.random.default_rng(0)
    for h in range(days * 24):
        for _name, model in users.items():
            if rng.random() < 0.6:
                methods = rng.choice(ROUTINE, size=2, replace=False)
                counts = {str(m): int(rng.integers(1, 20)) for m in methods}
                model.learn_bucket(h * HOUR, counts)
        if h % 24 == 9:  # one admin creates a user every morning
            users["user0"].learn_bucket(h * HOUR, {"CreateUser": 1})
    assert all(isinstance(m, CategoryModel) for m in users.values())
    return pop, users  # type: ignore[return-value]


def test_a_method_never_seen_for_a_user_scores_high() -> None:
    _pop, users = _train_users()
    norm = new_normalizer()
    t = 14 * 24 * HOUR + 10 * HOUR
    # The history of rare scores: every user's normal buckets.
    for model in users.values():
        for p in model.score_bucket(t, {"GetObject": 3, "ListBuckets": 1}).values():
            norm.observe(p)
    for _ in range(500):
        norm.observe(1.0)
    p = users["user3"].score_bucket(t, {"DeleteTrail": 1, "GetObject": 2})
    norm.observe(p["DeleteTrail"])
    assert p["DeleteTrail"] < 1e-3
    assert p["GetObject"] > 0.05
    assert norm.normalize(p["DeleteTrail"]) >= 75.0


def test_new_to_the_user_but_common_in_population_is_less_surprising() -> None:
    _pop, users = _train_users()
    t = 14 * 24 * HOUR + 10 * HOUR
    # user5 has never called CreateUser, user0 calls it daily; DeleteTrail nobody ever called.
    known_elsewhere = users["user5"].score_bucket(t, {"CreateUser": 1})["CreateUser"]
    unknown = users["user5"].score_bucket(t, {"DeleteTrail": 1})["DeleteTrail"]
    assert unknown < known_elsewhere < 0.01


def test_something_seen_every_day_is_never_rare() -> None:
    _pop, users = _train_users()
    t = 14 * 24 * HOUR + 9 * HOUR
    # user0 creates a user once a day: in few buckets, but every day.
    assert users["user0"].score_bucket(t, {"CreateUser": 1})["CreateUser"] == 1.0


def test_freq_rare_counts_events_not_buckets() -> None:
    by_bucket = new_rare_model(HOUR)
    by_event = new_rare_model(HOUR, frequency_weighted=True)
    for h in range(48):
        counts = {"GetObject": 1}
        if h % 12 == 0:
            counts["PutObject"] = 500  # few buckets, many events
        by_bucket.learn_bucket(h * HOUR, counts)
        by_event.learn_bucket(h * HOUR, counts)
    t = 48 * HOUR + 1
    assert (
        by_event.score_bucket(t, {"PutObject": 1})["PutObject"]
        > by_bucket.score_bucket(t, {"PutObject": 1})["PutObject"]
    )


@settings(max_examples=30, deadline=None)
@given(
    buckets=st.lists(
        st.dictionaries(st.sampled_from(list("abcdefg")), st.integers(1, 5), max_size=4),
        max_size=40,
    ),
    probe=st.dictionaries(st.sampled_from(list("abcdefghij")), st.integers(1, 5), max_size=5),
)
def test_rare_probabilities_are_in_unit_interval(
    buckets: list[dict[str, int]], probe: dict[str, int]
) -> None:
    model = new_rare_model(HOUR)
    for h, counts in enumerate(buckets):
        model.learn_bucket(h * HOUR, counts)
    probs = model.score_bucket(len(buckets) * HOUR, probe)
    assert set(probs) == set(probe)
    assert all(0.0 < p <= 1.0 for p in probs.values())


def test_population_is_shared_through_pickled_state() -> None:
    from trailspike.models.state import dump_state, load_state

    pop = new_population_model()
    a, b = new_rare_model(HOUR, population=pop), new_rare_model(HOUR, population=pop)
    a.learn_bucket(0.0, {"x": 1})
    a2, b2 = load_state(dump_state((a, b)))
    assert a2.population is b2.population  # type: ignore[attr-defined]
    b2.learn_bucket(HOUR, {"y": 1})
    assert a2.population.partitions_using == {"x": 1.0, "y": 1.0}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- bursts of novelty
SECRETS = ["GetSecretValue", "ListSecrets", "ListKeys", "DescribeParameters", "Decrypt"]


def _office(days: int = 14, users: int = 12) -> list[CategoryModel]:
    """Users 0-5 use two methods every working hour; users 6+ also use :data:`SECRETS`."""
    pop = PopulationModel()
    models = [CategoryModel(3600.0, population=pop) for _ in range(users)]
    for day in range(days):
        for hour in range(9, 17):
            for n, m in enumerate(models):
                used = ["GetObject", "ListBuckets", *(SECRETS if n >= 6 else [])]
                m.learn_bucket((day * 24 + hour) * 3600.0, dict.fromkeys(used, 1))
    return models


def test_a_burst_of_methods_new_to_a_stable_user_scores_lower_than_each_alone() -> None:
    models = _office()
    scores = score_bucket([models[0], models[1]], [SECRETS[:1], SECRETS])
    one, burst = scores.span(0), scores.span(1)
    assert scores.final[one] == scores.alone[one]  # a single new method: its own probability
    assert list(scores.bursts) == [1] and scores.bursts[1].count == len(SECRETS)
    assert np.all(scores.new[burst])
    assert np.all(scores.final[burst] < scores.alone[burst] / 30)
    # The more new methods, the smaller P(X >= x).
    assert np.all(np.diff(scores.bursts[1].tail[1:]) <= 0)


def test_a_burst_is_never_more_surprising_than_a_method_nobody_uses() -> None:
    models = _office()
    scores = score_bucket([models[0]], [[*SECRETS, "CreateAccessKey"]])
    nobody = scores.alone[-1]  # nobody in the population used CreateAccessKey
    assert scores.bursts and np.all(scores.final >= nobody * (1 - 1e-12))


def test_a_new_user_has_no_burst_everything_is_new_to_it() -> None:
    models = _office(days=2)  # two active days: still learning what is normal
    scores = score_bucket([models[0]], [SECRETS])
    assert np.all(scores.new)
    assert np.array_equal(scores.final, scores.alone)
    assert scores.bursts == {}


def test_known_methods_are_not_part_of_a_burst() -> None:
    models = _office()
    scores = score_bucket([models[0]], [["GetObject", *SECRETS[:3]]])
    assert scores.new.tolist() == [False, True, True, True]
    assert scores.final[0] == scores.alone[0]
    assert np.all(scores.final[1:] < scores.alone[1:])


def test_novelty_statistics_survive_pickled_state() -> None:
    import pickle

    models = _office()
    restored = pickle.loads(pickle.dumps(models))
    assert restored[0].novelty.n == models[0].novelty.n > 0
    assert restored[0].population is restored[1].population
    a = score_bucket(models[:1], [SECRETS]).final
    b = score_bucket(restored[:1], [SECRETS]).final
    assert np.array_equal(a, b)


@pytest.mark.parametrize("weighted", [False, True], ids=["rare", "freq_rare"])
def test_learning_a_scored_bucket_at_once_equals_learning_each_partition(weighted: bool) -> None:
    """learn_partitions, with the ids scoring found (new categories unknown then), leaves
    every partition and the population as learn_bucket one partition at a time does."""
    rng = random.Random(3)
    pops = [PopulationModel(), PopulationModel()]
    parts = [[CategoryModel(HOUR, weighted, pop) for _ in range(6)] for pop in pops]
    for h in range(24 * 9):
        counts = [
            {f"M{rng.randrange(40 if h > 100 else 12)}": rng.randrange(1, 4) for _ in range(4)}
            for _ in range(6)
        ]
        rows = [r for r in range(6) if h % 7 or r % 3]  # some partitions not learnt at all
        for r in rows:
            parts[0][r].learn_bucket(h * HOUR, counts[r])
        scores = score_bucket(parts[1], [list(c) for c in counts])
        learn_partitions([parts[1][r] for r in rows], h * HOUR, counts, scores.ids, rows)
    assert pops[0].names == pops[1].names
    assert pickle.dumps(parts[0]) == pickle.dumps(parts[1])
