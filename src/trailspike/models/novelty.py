"""Bursts of novelty: how many categories new to a partition arrive in one bucket.

Elastic's rare probability looks at one category at a time, so a user whose methods have been
stable for weeks and who calls four methods new to her within the hour, each common elsewhere,
scores like any single first use. :class:`trailspike.models.rare.CategoryModel` therefore also
learns its number of new categories per active bucket (:class:`NoveltyStats`, after the
partition's first :data:`NOVELTY_LEARNING_DAYS` active days: everything is new to a new user),
and a new category of a bucket with ``x >=`` :data:`MIN_BURST` new ones gets the smaller of its
own probability and the burst's (:func:`burst_probability`):

- ``P(X >= x)`` (:func:`novelty_tail`): negative binomial, the partition's rate shrunk towards
  the population's (prior weight :data:`NOVELTY_PRIOR_DAYS` days of buckets; the population's
  rate itself has one new category per prior day, so it is never zero), with the population's
  overdispersion by moments, assumed as bursty as allowed (:data:`MIN_SHAPE`) until the
  population has shown :data:`DISPERSION_MIN_NEW` new categories;
- times Fisher's combination of each new category's *surprise* (its own probability over the
  mass of all categories the partition never used: how rare it is among the things the user has
  not done yet; uniform under the null, so a burst of common methods gains little);
- never below ``floor``, the probability of one category nobody has used: the job's scores are
  normalised against its history, and a probability of 1e-60 would push every other anomaly of
  the renormalisation window down.

Implementation decisions: statistics decay like the category counts (half-life 30 days); the
early results of a burst count only the categories seen by their data end
(:mod:`trailspike.jobs.novelty`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2, nbinom

HALF_LIFE = 30 * 86400.0  # as the category counts (rare.RARE_HALF_LIFE)
NOVELTY_LEARNING_DAYS = 3  # active days before a partition's novelty is learnt and scored
NOVELTY_PRIOR_DAYS = 1.0  # the population's rate counts as this many days of buckets
NOVELTY_MIN_POPULATION = 48.0  # learnt buckets (decayed, all partitions) before bursts are scored
MIN_BURST = 2  # a single new category is scored by its own probability only
MAX_SHAPE = 1e6  # negative binomial shape when the population's novelty is not overdispersed
MIN_SHAPE = 0.05  # the burstiest novelty assumed (also the shape until it can be measured)
DISPERSION_MIN_NEW = 10.0  # new categories (decayed) before the population's dispersion is used

FloatArray = npt.NDArray[np.float64]


class NoveltyStats:
    """Decayed moments of the number of new categories per learnt bucket.

    >>> stats = NoveltyStats()
    >>> for x in (0, 0, 0, 4):
    ...     stats.add(0.0, x)
    >>> stats.n, stats.mean(), stats.variance()
    (4.0, 1.0, 3.0)
    """

    def __init__(self) -> None:
        self.n = 0.0  # buckets
        self.x = 0.0  # new categories
        self.x2 = 0.0  # squares, for the overdispersion
        self.last_t: float | None = None

    def add(self, t: float, new: int) -> None:
        """Count a bucket at ``t`` with ``new`` new categories (older buckets fade)."""
        if self.last_t is not None and t > self.last_t:
            factor = 0.5 ** ((t - self.last_t) / HALF_LIFE)
            self.n *= factor
            self.x *= factor
            self.x2 *= factor
        self.last_t = t if self.last_t is None else max(self.last_t, t)
        self.n += 1.0
        self.x += new
        self.x2 += new * new

    def add_many(self, t: float, news: list[int]) -> None:
        """:meth:`add` of buckets at ``t`` with ``news[k]`` new categories each, in order:
        one decay, then the sums accumulated one term after the other (``np.add.accumulate``
        is sequential), so every float is the one the calls one by one give.

        >>> one, many = NoveltyStats(), NoveltyStats()
        >>> for stats in (one, many):
        ...     stats.add(0.0, 1)
        >>> for x in (3, 0, 5):
        ...     one.add(7200.0, x)
        >>> many.add_many(7200.0, [3, 0, 5])
        >>> (one.n, one.x, one.x2, one.last_t) == (many.n, many.x, many.x2, many.last_t)
        True
        """
        if not news:
            return
        self.add(t, news[0])
        if len(news) == 1:
            return
        rest = np.array(news[1:], dtype=np.float64)
        self.n = float(np.add.accumulate(np.concatenate(([self.n], np.ones(rest.shape[0]))))[-1])
        self.x = float(np.add.accumulate(np.concatenate(([self.x], rest)))[-1])
        self.x2 = float(np.add.accumulate(np.concatenate(([self.x2], rest * rest)))[-1])

    def mean(self) -> float:
        return self.x / self.n if self.n > 0 else 0.0

    def variance(self) -> float:
        return max(0.0, self.x2 / self.n - self.mean() ** 2) if self.n > 0 else 0.0

    def shape(self) -> float:
        """Negative binomial shape by moments (``var = mu + mu^2 / r``); large when Poisson,
        :data:`MIN_SHAPE` until :data:`DISPERSION_MIN_NEW` new categories were seen."""
        if self.x < DISPERSION_MIN_NEW:
            return MIN_SHAPE  # too little novelty seen to measure it: assume it comes in bursts
        mu, var = self.mean(), self.variance()
        if var <= mu * (1 + 1e-6) or mu <= 0:
            return MAX_SHAPE
        return float(min(MAX_SHAPE, max(MIN_SHAPE, mu * mu / (var - mu))))


def novelty_tail(
    partition: NoveltyStats, population: NoveltyStats, buckets_per_day: float, most: int
) -> FloatArray:
    """``P(X >= x)`` for ``x = 0 .. most`` new categories in a bucket of ``partition``; ones
    (no evidence) while the population is still learning or for fewer than :data:`MIN_BURST`.

    >>> quiet, everyone = NoveltyStats(), NoveltyStats()
    >>> for _ in range(200):
    ...     quiet.add(0.0, 0)
    ...     everyone.add(0.0, 0)
    >>> tail = novelty_tail(quiet, everyone, 24.0, 3)
    >>> bool(tail[0] == 1.0), bool(tail[1] > tail[2] > tail[3])
    (True, True)
    """
    if population.n < NOVELTY_MIN_POPULATION or most < MIN_BURST:
        return np.ones(most + 1)
    prior = NOVELTY_PRIOR_DAYS * buckets_per_day
    rate = (population.x + NOVELTY_PRIOR_DAYS) / (population.n + prior)
    mu = (partition.x + prior * rate) / (partition.n + prior)
    shape = population.shape()
    tail = nbinom.sf(np.arange(-1, most), shape, shape / (shape + max(mu, 1e-12)))
    return np.clip(np.asarray(tail, dtype=np.float64), 1e-300, 1.0)


def burst_probability(tail: FloatArray, surprises: FloatArray, floor: float) -> float:
    """Probability of a burst of ``x = len(surprises)`` new categories this surprising:
    ``P(X >= x)`` times Fisher's combination of how rare each is among the categories new to
    the partition, never below ``floor``; 1 for fewer than :data:`MIN_BURST`.

    >>> tail = np.array([1.0, 0.1, 1e-3, 1e-4])
    >>> burst_probability(tail, np.array([0.5]), 1e-9)
    1.0
    >>> common, rare = np.array([1.0, 1.0]), np.array([0.01, 0.02])
    >>> burst_probability(tail, common, 1e-9) > burst_probability(tail, rare, 1e-9)
    True
    >>> burst_probability(tail, rare, 1e-3)
    0.001
    """
    x = len(surprises)
    if x < MIN_BURST:
        return 1.0
    statistic = -2.0 * float(np.log(np.clip(surprises, 1e-300, 1.0)).sum())
    combined = float(chi2.sf(statistic, 2 * x))
    return float(min(1.0, max(floor, tail[min(x, len(tail) - 1)] * combined)))
