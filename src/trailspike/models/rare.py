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

A **burst of novelty** is scored too (:mod:`trailspike.models.novelty`): several categories new
to a stable partition in one bucket, against its learnt rate of new categories.

``freq_rare`` (``frequency_weighted=True``) counts events instead of buckets, so a category that
appears often but only in few buckets still counts as frequent.

Implementation decisions: counts decay with a half-life of :data:`RARE_HALF_LIFE` (30 days) so
habits can change; unseen mass uses ``A = PRIOR_STRENGTH``. Partitions share one population
object by reference: pickle the partitions and the population together (one ``dump_state``) and
the sharing survives a round trip.

Vectorised (the ``rare`` jobs score hundreds of thousands of categories): the population numbers
its categories (``ids``) and keeps the partition counts ``m`` in an array; each partition keeps
its counts in an array indexed by those ids. Scoring a bucket builds the predictive ``q`` of
every category the population knows in one array operation, sorts it once and reads each
queried category's "at most as likely" mass off the cumulative sum (``searchsorted``), instead
of one Python loop over all categories per queried category: the same sum, in another order,
so results agree with the loop to rounding (a test compares them). Learning a bucket just
scored (:func:`~trailspike.models.rare_scoring.learn_partitions`) reuses the population ids
scoring looked up; scoring many partitions at once lives in :mod:`trailspike.models.rare_scoring`,
and a detector's partitions' arrays as rows of shared matrices (so a bucket is learnt in a few
array steps over all of them) in :mod:`trailspike.models.rare_matrix`.
Which days a category was used is a 32-day ring of booleans per category (only the last 31 days
matter for "routine"). State pickled by the earlier dict-based version is converted on load.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import numpy.typing as npt

from trailspike.models.novelty import (
    NOVELTY_LEARNING_DAYS,
    NoveltyStats,
    novelty_tail,
)
from trailspike.models.state import restore_attributes

RARE_HALF_LIFE = 30 * 86400.0
PRIOR_STRENGTH = 1.0
UNSEEN_PSEUDOCOUNT = 0.5
ROUTINE_DAY_FRACTION = 0.8
ROUTINE_MIN_DAYS = 3
ROUTINE_WINDOW_DAYS = 30  # "recent" = active days within this many days of the last active one
DAY = 86400.0
RING = 32  # day slots kept per category: enough for the routine window plus today
TIE = 1 + 1e-9  # relative tolerance under which two predictive probabilities count as equal

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def _grown(array: npt.NDArray[Any], size: int) -> npt.NDArray[Any]:
    """``array`` with room for ``size`` rows (capacity doubles, new rows are zero)."""
    if array.shape[0] >= size:
        return array
    capacity = max(size, 2 * array.shape[0], 8)
    out = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


class PopulationModel:
    """Statistics of categories across all partitions of a detector.

    ``partitions_using[k]`` is how many partitions have used category ``k``; ``ids[k]`` numbers
    the categories (the index into every partition's count array).

    >>> pop = PopulationModel()
    >>> for method in ("ListBuckets", "ListBuckets", "DeleteTrail"):
    ...     pop.add_user_of(method)
    >>> round(pop.prior("ListBuckets"), 3), round(pop.prior("DeleteTrail"), 3)
    (0.556, 0.333)
    >>> round(pop.unseen_prior(), 3)
    0.111
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self.m: FloatArray = np.zeros(8)
        self.total = 0.0
        self.novelty = NoveltyStats()

    @property
    def size(self) -> int:
        """How many categories the population knows."""
        return len(self.names)

    @property
    def partitions_using(self) -> dict[str, float]:
        """Category → number of partitions that have used it."""
        return {name: float(self.m[i]) for i, name in enumerate(self.names)}

    def id_of(self, category: str) -> int:
        """The id of ``category``, numbering it if new (it is used by no partition yet)."""
        found = self.ids.get(category)
        if found is None:
            found = self.ids[category] = len(self.names)
            self.names.append(category)
            self.m = _grown(self.m, found + 1)
        return found

    def add_user_of(self, category: str) -> None:
        """Record that one more partition has used ``category``."""
        self.m[self.id_of(category)] += 1.0
        self.total += 1.0

    def denominator(self) -> float:
        """``M + g (K + 1)``: the normaliser of every prior share."""
        return self.total + UNSEEN_PSEUDOCOUNT * (self.size + 1)

    def prior(self, category: str) -> float:
        """Prior share of ``category`` (the unseen share if the population never saw it)."""
        i = self.ids.get(category)
        m = float(self.m[i]) if i is not None else 0.0
        return (m + UNSEEN_PSEUDOCOUNT) / self.denominator()

    def priors(self) -> FloatArray:
        """Prior share of every known category, indexed by id."""
        return (self.m[: self.size] + UNSEEN_PSEUDOCOUNT) / self.denominator()

    def unseen_prior(self) -> float:
        """Prior share of a category no partition has used yet."""
        return UNSEEN_PSEUDOCOUNT / self.denominator()

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "partitions_using" in state:  # pickled by the dict-based version
            self.__init__()  # type: ignore[misc]
            for name, m in state["partitions_using"].items():
                self.m[self.id_of(name)] = m
            self.total = float(state["total"])
            return
        # Restored first, defaults after: the attributes keep their order, so a loaded state
        # dumps to the bytes it came from. State from before novelty bursts learns from now on.
        restore_attributes(self, state)
        self.__dict__.setdefault("novelty", NoveltyStats())


class CategoryModel:
    """Which categories one partition uses, for ``rare``/``freq_rare`` (a :class:`RareModel`)."""

    def __init__(
        self,
        bucket_span: float,
        frequency_weighted: bool = False,
        population: PopulationModel | None = None,
    ) -> None:
        self.bucket_span = bucket_span
        self.frequency_weighted = frequency_weighted
        self.population = population if population is not None else PopulationModel()
        self.c: FloatArray = np.zeros(0)  # decayed count per population id
        self.known: BoolArray = np.zeros(0, dtype=bool)  # ids this partition has used
        self.seen = np.zeros(0, dtype=np.uint32)  # per id: bit day % RING set if used that day
        self.slot_day = np.full(RING, -(2**40), dtype=np.int64)  # day each slot holds
        self.slot_active = np.zeros(RING, dtype=bool)  # the partition had events that day
        self.total = 0.0
        self.last_t: float | None = None
        self.days_active = 0  # days with events, ever
        self.novelty = NoveltyStats()  # new categories per bucket, after the learning days
        self._recent: tuple[int, int] | None = None  # cache of recent_days(), never pickled

    # ---------------------------------------------------------------- views
    @property
    def counts(self) -> dict[str, float]:
        """Category → decayed count, for the categories this partition has used."""
        names = self.population.names
        return {names[i]: float(self.c[i]) for i in np.flatnonzero(self.known)}

    def _padded_counts(self, size: int) -> FloatArray:
        out = np.zeros(size)
        n = min(size, self.c.shape[0])
        out[:n] = self.c[:n]
        return out

    def recent_days(self) -> tuple[int, int]:
        """Bit mask (bit ``day % RING``) of the partition's recent active days, and their number:
        active days within :data:`ROUTINE_WINDOW_DAYS` of the last active one."""
        if self._recent is None:  # changes only when a new day starts (_day_slot)
            if not self.slot_active.any():
                self._recent = (0, 0)
            else:
                last = int(self.slot_day[self.slot_active].max())
                window = self.slot_active & (self.slot_day >= last - ROUTINE_WINDOW_DAYS)
                recent = np.flatnonzero(window)
                self._recent = (int(np.bitwise_or.reduce(np.left_shift(1, recent))), len(recent))
        return self._recent

    # ---------------------------------------------------------------- scoring
    @staticmethod
    def recent_days_of(models: list[CategoryModel]) -> IntArray:
        """:meth:`recent_days` of every model as rows ``[bits, number]``, the ones not cached
        computed together (a new day clears ~every partition's cache at once) and cached.

        >>> pop = PopulationModel()
        >>> a, b, c = (CategoryModel(3600.0, population=pop) for _ in range(3))
        >>> for day in (0, 1, 2, 40):
        ...     a.learn_bucket(day * DAY, {"GetObject": 1})
        >>> b.learn_bucket(5 * DAY, {"GetObject": 1})
        >>> expected = [a.recent_days(), b.recent_days(), c.recent_days()]
        >>> for m in (a, b, c):
        ...     m._recent = None
        >>> CategoryModel.recent_days_of([a, b, c]).tolist() == [list(e) for e in expected]
        True
        """
        cached = [m._recent for m in models]
        missing = [k for k, recent in enumerate(cached) if recent is None]
        if missing:
            days = np.stack([models[k].slot_day for k in missing])
            active = np.stack([models[k].slot_active for k in missing])
            last = np.where(active, days, -(2**62)).max(axis=1)  # no active day: no window
            window = active & (days >= last[:, None] - ROUTINE_WINDOW_DAYS)
            # Distinct powers of two: their sum is their bitwise or.
            bits = (window * (np.int64(1) << np.arange(RING, dtype=np.int64))).sum(axis=1)
            counts = window.sum(axis=1)
            for k, b, n in zip(missing, bits.tolist(), counts.tolist(), strict=True):
                cached[k] = models[k]._recent = (b, n)
        return np.array(cached, dtype=np.int64).reshape(len(models), 2)

    def probabilities(self, categories: list[str]) -> FloatArray:
        """Predictive mass of all outcomes at most as likely as each category, in (0, 1]."""
        # Imported here: the bucket scoring module builds on this one's models.
        from trailspike.models.rare_scoring import score_partitions

        return score_partitions([self], [categories])[0]

    def probability(self, category: str) -> float:
        """Predictive mass of all outcomes at most as likely as ``category``, in (0, 1]."""
        return float(self.probabilities([category])[0])

    def score_bucket(self, t: float, counts: dict[str, int]) -> dict[str, float]:
        """Probability of seeing each category of the bucket as rarely as it has been seen."""
        names = list(counts)
        if not names:
            return {}
        return dict(zip(names, self.probabilities(names).tolist(), strict=True))

    # ---------------------------------------------------------------- learning
    def learn_bucket(self, t: float, counts: dict[str, int]) -> None:
        """Record the categories seen in the bucket starting at ``t``."""
        self._learn(t, counts, None)

    def _learn(self, t: float, counts: dict[str, int], ids: IntArray | None) -> None:
        """:meth:`learn_bucket`; ``ids``: the categories' population ids in ``counts`` order
        (:func:`~trailspike.models.rare_scoring.learn_partitions`), or None to look them up."""
        if self.last_t is not None and t > self.last_t:
            factor = 0.5 ** ((t - self.last_t) / RARE_HALF_LIFE)
            self.total *= factor
            self.c *= factor
        slot = self._day_slot(int(t // DAY)) if counts else None
        if ids is not None and counts and min(counts.values()) > 0:
            new = self._add_ids(ids, counts.values(), slot)
            self._learn_novelty(t, new)
        else:
            used = [(category, n) for category, n in counts.items() if n > 0]
            if used:
                new = self._add(used, slot)
                self._learn_novelty(t, new)
        self.last_t = t if self.last_t is None else max(self.last_t, t)

    def _learn_novelty(self, t: float, new: int) -> None:
        if self.learns_novelty:
            self.novelty.add(t, new)
            self.population.novelty.add(t, new)

    def _numbered(self, counts: dict[str, int], ids: IntArray) -> IntArray:
        """``ids`` with the categories unknown when they were looked up numbered now, in
        order, as :meth:`_add` numbers them (an earlier partition may have done so)."""
        unknown = np.flatnonzero(ids < 0)
        names = list(counts)
        out = ids.copy()
        for j in unknown.tolist():
            out[j] = self.population.id_of(names[j])
        return out

    def _add(self, used: list[tuple[str, int]], slot: int | None) -> int:
        """Count the bucket's categories (each at most once per call) in one array step;
        returns how many were new to the partition."""
        pop = self.population
        # Known categories by one dict lookup each; new ones numbered in order, as id_of does.
        get = pop.ids.get
        known = [get(category) for category, _ in used]
        if None in known:
            known = [
                pop.id_of(category) if i is None else i
                for (category, _), i in zip(used, known, strict=True)
            ]
        ids = np.array(known, dtype=np.int64)
        return self._add_ids(ids, [n for _, n in used], slot)

    def _add_ids(self, ids: IntArray, counts: Collection[int], slot: int | None) -> int:
        """:meth:`_add` of the categories with population ids ``ids`` (distinct) seen
        ``counts`` times."""
        pop = self.population
        top = int(ids.max()) + 1
        if top > self.c.shape[0]:
            self.c = _grown(self.c, top)
            self.known = _grown(self.known, top)
            self.seen = _grown(self.seen, top)
        first_uses = ids[~self.known[ids]].tolist()
        for i in first_uses:
            pop.add_user_of(pop.names[i])
        self.known[ids] = True
        if self.frequency_weighted:
            inc = np.array([float(n) for n in counts])
            self.c[ids] += inc
            self.total += float(inc.sum())
        else:
            self.c[ids] += 1.0
            self.total += float(len(counts))
        if slot is not None:
            self.seen[ids] |= np.uint32(1 << slot)
        return len(first_uses)

    @property
    def learns_novelty(self) -> bool:
        """Whether the partition is past its learning days (today not counted)."""
        return self.days_active > NOVELTY_LEARNING_DAYS

    def burst_tail(self, most: int) -> FloatArray:
        """``P(X >= x)`` for ``x = 0 .. most`` new categories in a bucket; ones (no evidence)
        while the partition or the population is still learning."""
        if not self.learns_novelty:
            return np.ones(most + 1)
        days = DAY / self.bucket_span
        return novelty_tail(self.novelty, self.population.novelty, days, most)

    def burst_floor(self) -> float:
        """The smallest probability a burst may get: that of one category nobody has used.
        The job's scores are normalised against its history, and a probability of 1e-60 would
        push every other anomaly of the renormalisation window down."""
        return min(
            1.0, PRIOR_STRENGTH * self.population.unseen_prior() / (self.total + PRIOR_STRENGTH)
        )

    def new_mass(self) -> float:
        """Predictive mass of all categories the partition has never used."""
        pop = self.population
        n = min(pop.size, self.known.shape[0])
        used = float(pop.priors()[:n][self.known[:n]].sum()) if n else 0.0
        return PRIOR_STRENGTH * max(0.0, 1.0 - used) / (self.total + PRIOR_STRENGTH)

    def _day_slot(self, day: int) -> int | None:
        """The ring slot of ``day``, cleared when it starts a new day (None: too old to keep)."""
        slot = day % RING
        if self.slot_day[slot] == day:
            return slot
        if self.slot_day[slot] > day:
            return None  # a day older than the ring, learnt out of order: outside the window
        self.slot_day[slot] = day
        self.slot_active[slot] = True
        self.days_active += 1
        self._recent = None
        self.seen &= np.uint32(~(1 << slot) & 0xFFFFFFFF)
        return slot

    def typical(self) -> str | None:
        """The partition's most used category (for ``typical`` in results)."""
        if not self.known.any():
            return None
        used = np.where(self.known, self.c, -np.inf)
        return self.population.names[int(np.argmax(used))]

    # ---------------------------------------------------------------- old state
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_recent", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "counts" not in state:
            # Restored first, defaults after (the attributes keep their order). State from
            # before novelty bursts: its days so far count as learning days.
            restore_attributes(self, state)
            if "days_active" not in state:
                self.days_active = int(np.count_nonzero(state.get("slot_active", [])))
            self.__dict__.setdefault("novelty", NoveltyStats())
            self._recent = None
            return
        # Pickled by the dict-based version: rebuild the arrays from its dicts.
        self.__init__(  # type: ignore[misc]
            state["bucket_span"], state["frequency_weighted"], state["population"]
        )
        pop = self.population
        for name, value in state["counts"].items():
            i = pop.id_of(name)
            self.c = _grown(self.c, i + 1)
            self.known = _grown(self.known, i + 1)
            self.seen = _grown(self.seen, i + 1)
            self.c[i] = value
            self.known[i] = True
        for day in sorted(state["active_days"])[-RING:]:
            self._day_slot(day)
        for name, days in state["days_seen"].items():
            for day in days:
                slot = day % RING
                if self.slot_day[slot] == day:
                    self.seen[pop.ids[name]] |= np.uint32(1 << slot)
        self.total = float(state["total"])
        self.last_t = state["last_t"]
