"""Category-frequency models for ``rare`` and ``freq_rare``, with a population prior.

:class:`CategoryModel` (one per partition: a user, a city, a country) keeps decayed counts of the
buckets in which each category (e.g. an ``event.action``) occurred. The predictive probability of
category ``k`` is Dirichlet-multinomial with a prior drawn from the :class:`PopulationModel`
shared by all partitions of a detector::

    q_k = (c_k + A * pi_k) / (N + A),   pi_k = (m_k + g) / (M + g * (K + 1))

where ``c_k`` is the partition's count, ``N`` their sum, ``m_k`` the number of partitions that
have used ``k``, ``M`` their sum and ``K`` the number of categories the population knows. The
probability reported for a category is the total predictive mass of all outcomes at most as
likely as it (categories the partition knows, plus the mass of unseen ones), so a method first
seen for a user scores by how surprising it is given the user's own history *and* how common it
is across users. A category the partition used on at least :data:`ROUTINE_DAY_FRACTION` of its
active days (over at least :data:`ROUTINE_MIN_DAYS` days) is routine and never rare.

``freq_rare`` (``frequency_weighted=True``) counts events instead of buckets, so a category that
appears often but only in few buckets still counts as frequent.

Implementation decisions: counts decay with a half-life of :data:`RARE_HALF_LIFE` (30 days) so
habits can change; unseen mass uses ``A = PRIOR_STRENGTH``. Partitions share one population
object by reference: pickle the partitions and the population together (one ``dump_state``) and
the sharing survives a round trip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

RARE_HALF_LIFE = 30 * 86400.0
PRIOR_STRENGTH = 1.0
UNSEEN_PSEUDOCOUNT = 0.5
ROUTINE_DAY_FRACTION = 0.8
ROUTINE_MIN_DAYS = 3
DAY = 86400.0


@dataclass
class PopulationModel:
    """Statistics of categories across all partitions of a detector.

    ``partitions_using[k]`` is how many partitions have used category ``k``.

    >>> pop = PopulationModel()
    >>> for method in ("ListBuckets", "ListBuckets", "DeleteTrail"):
    ...     pop.add_user_of(method)
    >>> round(pop.prior("ListBuckets"), 3), round(pop.prior("DeleteTrail"), 3)
    (0.556, 0.333)
    >>> round(pop.unseen_prior(), 3)
    0.111
    """

    partitions_using: dict[str, float] = field(default_factory=dict)
    total: float = 0.0

    def add_user_of(self, category: str) -> None:
        """Record that one more partition has used ``category``."""
        self.partitions_using[category] = self.partitions_using.get(category, 0.0) + 1.0
        self.total += 1.0

    def _denominator(self) -> float:
        return self.total + UNSEEN_PSEUDOCOUNT * (len(self.partitions_using) + 1)

    def prior(self, category: str) -> float:
        """Prior share of ``category`` (the unseen share if the population never saw it)."""
        m = self.partitions_using.get(category, 0.0)
        return (m + UNSEEN_PSEUDOCOUNT) / self._denominator()

    def unseen_prior(self) -> float:
        """Prior share of a category no partition has used yet."""
        return UNSEEN_PSEUDOCOUNT / self._denominator()


@dataclass
class CategoryModel:
    """Which categories one partition uses, for ``rare``/``freq_rare`` (a :class:`RareModel`)."""

    bucket_span: float
    frequency_weighted: bool = False
    population: PopulationModel = field(default_factory=PopulationModel)
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
        """Predictive mass of all outcomes at most as likely as ``category``, in (0, 1]."""
        if self._is_routine(category):
            return 1.0
        q = self._q(category)
        mass = 0.0
        for other in self.counts:
            qo = self._q(other)
            if qo <= q * (1 + 1e-9):
                mass += qo
        if category not in self.counts:
            mass += q
        # Categories the population knows but this partition never used, then truly new ones.
        denom = self.total + PRIOR_STRENGTH
        for other, _ in self.population.partitions_using.items():
            if other not in self.counts and other != category:
                qo = PRIOR_STRENGTH * self.population.prior(other) / denom
                if qo <= q * (1 + 1e-9):
                    mass += qo
        if category in self.counts or category in self.population.partitions_using:
            unseen = PRIOR_STRENGTH * self.population.unseen_prior() / denom
            if unseen <= q:
                mass += unseen
        return max(1e-300, min(1.0, mass))

    def score_bucket(self, t: float, counts: dict[str, int]) -> dict[str, float]:
        """Probability of seeing each category of the bucket as rarely as it has been seen."""
        return {category: self.probability(category) for category in counts}

    def learn_bucket(self, t: float, counts: dict[str, int]) -> None:
        """Record the categories seen in the bucket starting at ``t``."""
        if self.last_t is not None and t > self.last_t:
            factor = 0.5 ** ((t - self.last_t) / RARE_HALF_LIFE)
            self.total *= factor
            for k in self.counts:
                self.counts[k] *= factor
        day = int(t // DAY)
        if counts:
            self.active_days.add(day)
            self._prune_days(day)
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

    def _prune_days(self, today: int) -> None:
        """Keep only the last 31 days of day sets (memory stays bounded)."""
        horizon = today - 31
        if min(self.active_days) >= horizon:
            return
        self.active_days = {d for d in self.active_days if d >= horizon}
        for k, days in self.days_seen.items():
            self.days_seen[k] = {d for d in days if d >= horizon}

    def typical(self) -> str | None:
        """The partition's most used category (for ``typical`` in results)."""
        if not self.counts:
            return None
        return max(self.counts, key=lambda k: self.counts[k])


def surprise_bits(probability: float) -> float:
    """``-log2 p``: how surprising a probability is, in bits.

    >>> surprise_bits(0.25)
    2.0
    """
    return -math.log2(max(probability, 1e-300))
