"""The vectorised category model against the straightforward loop it replaced.

``_Reference*`` below is the earlier dict-based implementation (one Python loop over every
category per scored category), kept here as the specification: the array version must give the
same probabilities, to rounding, for any history, and must read state pickled by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from trailspike.models.rare import (
    DAY,
    PRIOR_STRENGTH,
    RARE_HALF_LIFE,
    ROUTINE_DAY_FRACTION,
    ROUTINE_MIN_DAYS,
    UNSEEN_PSEUDOCOUNT,
    CategoryModel,
    PopulationModel,
)
from trailspike.models.rare_scoring import score_partitions

HOUR = 3600.0


@dataclass
class _ReferencePopulation:
    partitions_using: dict[str, float] = field(default_factory=dict)
    total: float = 0.0

    def add_user_of(self, category: str) -> None:
        self.partitions_using[category] = self.partitions_using.get(category, 0.0) + 1.0
        self.total += 1.0

    def prior(self, category: str) -> float:
        denom = self.total + UNSEEN_PSEUDOCOUNT * (len(self.partitions_using) + 1)
        return (self.partitions_using.get(category, 0.0) + UNSEEN_PSEUDOCOUNT) / denom

    def unseen_prior(self) -> float:
        return UNSEEN_PSEUDOCOUNT / (
            self.total + UNSEEN_PSEUDOCOUNT * (len(self.partitions_using) + 1)
        )


@dataclass
class _ReferenceModel:
    bucket_span: float
    frequency_weighted: bool = False
    population: _ReferencePopulation = field(default_factory=_ReferencePopulation)
    counts: dict[str, float] = field(default_factory=dict)
    days_seen: dict[str, set[int]] = field(default_factory=dict)
    active_days: set[int] = field(default_factory=set)
    total: float = 0.0
    last_t: float | None = None

    def _q(self, category: str) -> float:
        prior = self.population.prior(category)
        return (self.counts.get(category, 0.0) + PRIOR_STRENGTH * prior) / (
            self.total + PRIOR_STRENGTH
        )

    def _is_routine(self, category: str) -> bool:
        recent = {d for d in self.active_days if d >= max(self.active_days) - 30}
        if len(recent) < ROUTINE_MIN_DAYS:
            return False
        seen = len(self.days_seen.get(category, set()) & recent)
        return seen >= ROUTINE_DAY_FRACTION * len(recent)

    def probability(self, category: str) -> float:
        if self._is_routine(category):
            return 1.0
        q = self._q(category)
        mass = sum(qo for qo in map(self._q, self.counts) if qo <= q * (1 + 1e-9))
        if category not in self.counts:
            mass += q
        denom = self.total + PRIOR_STRENGTH
        for other in self.population.partitions_using:
            if other not in self.counts and other != category:
                qo = PRIOR_STRENGTH * self.population.prior(other) / denom
                if qo <= q * (1 + 1e-9):
                    mass += qo
        if category in self.counts or category in self.population.partitions_using:
            unseen = PRIOR_STRENGTH * self.population.unseen_prior() / denom
            if unseen <= q:
                mass += unseen
        return max(1e-300, min(1.0, mass))

    def learn_bucket(self, t: float, counts: dict[str, int]) -> None:
        if self.last_t is not None and t > self.last_t:
            factor = 0.5 ** ((t - self.last_t) / RARE_HALF_LIFE)
            self.total *= factor
            for k in self.counts:
                self.counts[k] *= factor
        day = int(t // DAY)
        if counts:
            self.active_days.add(day)
            horizon = day - 31
            self.active_days = {d for d in self.active_days if d >= horizon}
            for k, days in self.days_seen.items():
                self.days_seen[k] = {d for d in days if d >= horizon}
        for category, n in counts.items():
            if n <= 0:
                continue
            if category not in self.counts:
                self.population.add_user_of(category)
                self.counts[category] = 0.0
            inc = float(n) if self.frequency_weighted else 1.0
            self.counts[category] += inc
            self.total += inc
            self.days_seen.setdefault(category, set()).add(day)
        self.last_t = t if self.last_t is None else max(self.last_t, t)


CATEGORIES = list("abcdefghijkl")
history = st.lists(
    st.tuples(
        st.integers(0, 3),  # partition
        st.integers(1, 30),  # hours since the previous bucket (gaps of days too)
        st.dictionaries(st.sampled_from(CATEGORIES[:9]), st.integers(1, 6), max_size=5),
    ),
    max_size=120,
)


def _train(
    steps: list[tuple[int, int, dict[str, int]]], weighted: bool
) -> tuple[list[_ReferenceModel], list[CategoryModel], float]:
    ref_pop, pop = _ReferencePopulation(), PopulationModel()
    refs = [_ReferenceModel(HOUR, weighted, ref_pop) for _ in range(4)]
    fast = [CategoryModel(HOUR, weighted, pop) for _ in range(4)]
    t = 0.0
    for part, gap, counts in steps:
        t += gap * HOUR * (8 if gap > 25 else 1)
        # Scoring before learning, as jobs do (exercises the cached routine-day window).
        got = fast[part].score_bucket(t, {k: 1 for k in counts})
        for k, p in got.items():
            assert math.isclose(p, refs[part].probability(k), rel_tol=1e-9), k
        refs[part].learn_bucket(t, counts)
        fast[part].learn_bucket(t, counts)
    return refs, fast, t + HOUR


@settings(max_examples=60, deadline=None)
@given(steps=history, weighted=st.booleans())
def test_vectorised_probabilities_equal_the_reference_loop(
    steps: list[tuple[int, int, dict[str, int]]], weighted: bool
) -> None:
    refs, fast, t = _train(steps, weighted)
    for ref, model in zip(refs, fast, strict=True):
        probe = {k: 1 for k in CATEGORIES}  # known, known elsewhere and never seen
        got = model.score_bucket(t, probe)
        for k in CATEGORIES:
            assert math.isclose(got[k], ref.probability(k), rel_tol=1e-9), k
        assert set(model.counts) == set(ref.counts)
        for k, v in ref.counts.items():
            assert math.isclose(model.counts[k], v, rel_tol=1e-12)


@settings(max_examples=30, deadline=None)
@given(steps=history)
def test_all_partitions_at_once_equal_one_at_a_time(
    steps: list[tuple[int, int, dict[str, int]]],
) -> None:
    refs, fast, _ = _train(steps, False)
    probes = [CATEGORIES[i : i + 5] for i in range(4)]
    together = score_partitions(fast, probes)
    for ref, probe, got in zip(refs, probes, together, strict=True):
        for k, p in zip(probe, got, strict=True):
            assert math.isclose(p, ref.probability(k), rel_tol=1e-9), k


def test_routine_category_over_a_month_matches_the_reference() -> None:
    ref, fast = _ReferenceModel(HOUR), CategoryModel(HOUR)
    for day in range(45):  # longer than the 32-day ring
        t = day * DAY + 9 * HOUR
        counts = {"Daily": 1, "Odd": 1} if day % 2 else {"Daily": 1}
        ref.learn_bucket(t, counts)
        fast.learn_bucket(t, counts)
    t = 45 * DAY + 9 * HOUR
    for k in ("Daily", "Odd", "Never"):
        assert math.isclose(fast.probability(k), ref.probability(k), rel_tol=1e-9)
    assert fast.probability("Daily") == 1.0
    assert fast.score_bucket(t, {"Odd": 1})["Odd"] < 1.0


def test_state_of_the_dict_based_model_is_converted_on_load() -> None:
    ref_pop = _ReferencePopulation()
    ref = _ReferenceModel(HOUR, population=ref_pop)
    for h in range(24 * 5):
        ref.learn_bucket(h * HOUR, {"GetObject": 2} if h % 3 else {"GetObject": 1, "PutObject": 1})
    pop = PopulationModel.__new__(PopulationModel)
    pop.__setstate__(dict(vars(ref_pop)))
    model = CategoryModel.__new__(CategoryModel)
    model.__setstate__({**vars(ref), "population": pop})
    assert pop.partitions_using == ref_pop.partitions_using
    for k in ("GetObject", "PutObject", "DeleteTrail"):
        assert math.isclose(model.probability(k), ref.probability(k), rel_tol=1e-9)
    assert model.typical() == "GetObject"
