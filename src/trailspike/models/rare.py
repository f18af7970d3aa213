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
scored (:func:`learn_partitions`) reuses the population ids scoring looked up. Which days a
category was used is a 32-day ring of booleans per category (only the last 31 days matter for
"routine"). State pickled by the earlier dict-based version is converted on load.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from trailspike.models.novelty import (
    MIN_BURST,
    NOVELTY_LEARNING_DAYS,
    NoveltyStats,
    burst_probability,
    novelty_tail,
)

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
        self.novelty = NoveltyStats()  # state from before novelty bursts learns from now on
        self.__dict__.update(state)


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
    def probabilities(self, categories: list[str]) -> FloatArray:
        """Predictive mass of all outcomes at most as likely as each category, in (0, 1]."""
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
        (:func:`learn_partitions`), or None to look them up."""
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
            # State from before novelty bursts: its days so far count as learning days.
            self.days_active = int(np.count_nonzero(state.get("slot_active", [])))
            self.novelty = NoveltyStats()
            self.__dict__.update(state)
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


def _stack(rows: list[npt.NDArray[Any]], size: int, dtype: type) -> npt.NDArray[Any]:
    """Rows of different lengths as one ``[len(rows), size]`` matrix, zero padded."""
    if rows and all(row.shape[0] >= size for row in rows):
        # Mostly so (arrays grow ahead of the population): one copy, not one per row.
        return np.stack([row[:size] for row in rows]).astype(dtype, copy=False)
    out: npt.NDArray[Any] = np.zeros((len(rows), size), dtype=dtype)
    for r, row in enumerate(rows):
        n = min(size, row.shape[0])
        out[r, :n] = row[:n]
    return out


def score_partitions(models: list[CategoryModel], categories: list[list[str]]) -> list[FloatArray]:
    """Final probabilities of ``categories[r]`` for ``models[r]`` (:func:`score_bucket`)."""
    if not models:
        return []
    scores = score_bucket(models, categories)
    return np.split(scores.final, scores.offsets[:-1])


@dataclass
class Burst:
    """A partition's burst of novelty in a bucket: ``tail[x]`` is ``P(X >= x)``, ``floor`` the
    smallest probability it may get, ``probability`` the burst's (:func:`burst_probability`)
    with its ``count`` new categories."""

    tail: FloatArray
    floor: float
    probability: float
    count: int


@dataclass
class BucketScores:
    """:func:`score_bucket`'s results, flat in query order (``offsets``: where each partition's
    queries end); ``bursts`` holds the partitions whose new categories were a burst."""

    alone: FloatArray
    final: FloatArray
    new: BoolArray
    surprise: FloatArray
    offsets: npt.NDArray[np.int64]
    bursts: dict[int, Burst]
    ids: IntArray  # each query's population id when scored (-1: unknown), for learn_partitions

    def span(self, row: int) -> slice:
        """Where partition ``row``'s queries are in the flat arrays."""
        return slice(int(self.offsets[row - 1]) if row else 0, int(self.offsets[row]))


def score_bucket(models: list[CategoryModel], categories: list[list[str]]) -> BucketScores:
    """Burst of novelty applied to :func:`score_categories`: in a partition with ``x >=``
    :data:`MIN_BURST` new categories in the bucket, each new one gets the smaller of its own
    probability and the burst's (:func:`burst_probability`). Only the partitions with a burst
    cost more than the categories' own probabilities.

    >>> pop = PopulationModel()
    >>> users = [CategoryModel(3600.0, population=pop) for _ in range(20)]
    >>> burst = ["GetSecretValue", "ListKeys", "DescribeParameters", "Decrypt"]
    >>> for h in range(24 * 14):
    ...     for n, u in enumerate(users):  # users 10-19 use the burst's methods every hour
    ...         u.learn_bucket(h * 3600.0, dict.fromkeys(["GetObject", *burst[: n // 10 * 4]], 1))
    >>> scores = score_bucket(users[:2], [burst[:1], burst])  # one new method, then four
    >>> bool(scores.final[0] == scores.alone[0]), bool(scores.final[1] < scores.final[0] / 50)
    (True, True)
    >>> sorted(scores.bursts), scores.bursts[1].count
    ([1], 4)
    """
    alone, ids, rows, lengths = _score_flat(models, categories)
    known = _stack([m.known for m in models], models[0].population.size, np.bool_)
    new = ids < 0
    if known.shape[1] > 0:
        new |= ~known[rows, np.maximum(ids, 0)]
    per_row = np.bincount(rows, weights=new, minlength=len(models)).astype(np.int64)
    offsets = np.cumsum(lengths).astype(np.int64)
    final = alone.copy()
    surprise = np.ones_like(alone)
    bursts: dict[int, Burst] = {}
    for r in np.flatnonzero(per_row >= MIN_BURST).tolist():
        model, x = models[r], int(per_row[r])
        tail = model.burst_tail(x)
        if tail[x] >= 1.0:
            continue
        lo = int(offsets[r - 1]) if r else 0
        hit = np.flatnonzero(new[lo : int(offsets[r])]) + lo
        surprise[hit] = np.minimum(1.0, alone[hit] / max(model.new_mass(), 1e-300))
        floor = model.burst_floor()
        probability = burst_probability(tail, surprise[hit], floor)
        final[hit] = np.minimum(alone[hit], probability)
        bursts[r] = Burst(tail, floor, probability, x)
    return BucketScores(alone, final, new, surprise, offsets, bursts, ids)


def learn_partitions(
    models: list[CategoryModel],
    t: float,
    counts: list[dict[str, int]],
    ids: IntArray,
    rows: list[int],
) -> None:
    """``models[k].learn_bucket(t, counts[rows[k]])`` for every ``k``, in order, with the
    categories' population ids as :func:`score_bucket` found them (``ids``, flat in the order
    of ``counts``): learning looks up only the categories unknown then.
    """
    offsets = np.cumsum([0, *map(len, counts)])
    # Rows with a category unknown at scoring: it is numbered at the row's turn, as in order.
    late = set((np.searchsorted(offsets, np.flatnonzero(ids < 0), side="right") - 1).tolist())
    bounds = offsets.tolist()
    for model, row in zip(models, rows, strict=True):
        part = ids[bounds[row] : bounds[row + 1]]
        if row in late:
            part = model._numbered(counts[row], part)
        model._learn(t, counts[row], part)


def score_categories(models: list[CategoryModel], categories: list[list[str]]) -> list[FloatArray]:
    """Probabilities of ``categories[r]`` for ``models[r]``, for many partitions at once.

    All models must share one population. Per partition and queried category ``k``: the
    predictive mass of every outcome at most as likely as ``k`` (``q_j <= q_k (1 + 1e-9)``),
    plus the mass of the categories nobody has used if it is at most ``q_k``; 1 for a category
    used on at least 80 % of the partition's recent active days. One matrix of ``q`` per
    (partition, known category), sorted and summed per row, serves all queries of a bucket.

    >>> pop = PopulationModel()
    >>> a, b = CategoryModel(3600.0, population=pop), CategoryModel(3600.0, population=pop)
    >>> for h in range(48):
    ...     a.learn_bucket(h * 3600.0, {"GetObject": 1})
    ...     b.learn_bucket(h * 3600.0, {"ListBuckets": 1})
    >>> pa, pb = score_categories([a, b], [["GetObject", "DeleteTrail"], ["GetObject"]])
    >>> bool(pa[0] > 0.5), bool(pa[1] < 0.01), bool(pb[0] < 0.05)
    (True, True, True)
    """
    if not models:
        return []
    out, _, _, lengths = _score_flat(models, categories)
    return np.split(out, np.cumsum(lengths)[:-1])


def _score_flat(
    models: list[CategoryModel], categories: list[list[str]]
) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64], list[int]]:
    """:func:`score_categories` as one flat array, with each query's population id (-1:
    unknown), partition row, and the number of queries per partition."""
    pop = models[0].population
    size = pop.size
    lengths = [len(c) for c in categories]
    rows = np.repeat(np.arange(len(models)), lengths)
    ids = np.array([pop.ids.get(k, -1) for cats in categories for k in cats], dtype=np.int64)
    denom = np.array([m.total for m in models]) + PRIOR_STRENGTH
    unseen = (PRIOR_STRENGTH * pop.unseen_prior() / denom)[rows]
    known = ids >= 0
    safe = np.maximum(ids, 0)
    out = np.clip(unseen, 1e-300, 1.0)  # nothing known yet: every category is the unseen share
    if size > 0:
        counts = _stack([m.c for m in models], size, np.float64)
        q_all = (counts + PRIOR_STRENGTH * pop.priors()) / denom[:, None]
        q = np.where(known, q_all[rows, safe], unseen)
        ordered = np.sort(q_all, axis=1)
        cumulative = np.cumsum(ordered, axis=1)
        # How many of the partition's q are at most as likely: one searchsorted per row of
        # the sorted matrix (counting ``<=`` over a [queries, categories] matrix cost more).
        below = np.zeros(len(ids), dtype=np.int64)
        limit = q * TIE
        bounds = np.cumsum([0, *lengths]).tolist()
        for r, (lo, hi) in enumerate(pairwise(bounds)):
            if hi > lo:
                below[lo:hi] = np.searchsorted(ordered[r], limit[lo:hi], side="right")
        mass = np.where(below > 0, cumulative[rows, np.maximum(below - 1, 0)], 0.0)
        # The category itself when the population never saw it (its q is the unseen share),
        # and otherwise the mass of the categories nobody has used yet if at most as likely.
        mass += np.where(known, np.where(unseen <= q, unseen, 0.0), q)
        out = np.clip(mass, 1e-300, 1.0)
        recent = [m.recent_days() for m in models]
        n_recent = np.array([n for _, n in recent])[rows]
        if (n_recent >= ROUTINE_MIN_DAYS).any():
            masks = np.array([bits for bits, _ in recent], dtype=np.uint32)[rows]
            seen = _stack([m.seen for m in models], size, np.uint32)
            days = np.bitwise_count(seen[rows, safe] & masks)
            routine = known & (n_recent >= ROUTINE_MIN_DAYS)
            routine &= days >= ROUTINE_DAY_FRACTION * n_recent
            out = np.where(routine, 1.0, out)
    return out, ids, rows, lengths


def surprise_bits(probability: float) -> float:
    """``-log2 p``: how surprising a probability is, in bits.

    >>> surprise_bits(0.25)
    2.0
    """
    return -math.log2(max(probability, 1e-300))
