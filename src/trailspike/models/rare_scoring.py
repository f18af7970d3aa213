"""Scoring and learning one bucket of a rare detector: all its partitions at once.

:func:`score_categories` gives each queried category of each partition the predictive mass of
all outcomes at most as likely (:mod:`trailspike.models.rare` explains the model) from one
matrix per bucket; :func:`score_bucket` applies bursts of novelty on top
(:mod:`trailspike.models.novelty`); :func:`learn_partitions` learns the bucket with the
population ids scoring looked up. :class:`~trailspike.models.rare.CategoryModel` keeps the
state; this module only reads it, which is why the two live apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trailspike.models.novelty import MIN_BURST, burst_probability
from trailspike.models.rare import (
    PRIOR_STRENGTH,
    ROUTINE_DAY_FRACTION,
    ROUTINE_MIN_DAYS,
    TIE,
    BoolArray,
    CategoryModel,
    FloatArray,
    IntArray,
    PopulationModel,  # noqa: F401 (the doctests build models with it)
)
from trailspike.models.rare_matrix import PartitionMatrix, learn_matrix


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


def score_bucket(
    models: list[CategoryModel],
    categories: list[list[str]],
    matrix: PartitionMatrix | None = None,
) -> BucketScores:
    """Burst of novelty applied to :func:`score_categories`: in a partition with ``x >=``
    :data:`MIN_BURST` new categories in the bucket, each new one gets the smaller of its own
    probability and the burst's (:func:`burst_probability`). Only the partitions with a burst
    cost more than the categories' own probabilities. With ``matrix`` (the detector's
    :class:`~trailspike.models.rare_matrix.PartitionMatrix`) the models' arrays are read as its
    rows.

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
    return score_ids(models, _ids(models, categories), [len(c) for c in categories], matrix)


def score_ids(
    models: list[CategoryModel],
    ids: IntArray,
    lengths: list[int],
    matrix: PartitionMatrix | None = None,
) -> BucketScores:
    """:func:`score_bucket` of categories given by their population ids (-1: unknown), flat,
    ``lengths[r]`` of them for ``models[r]``."""
    arrays = _Arrays(models, models[0].population.size, matrix)
    alone, rows = _score_flat(models, ids, lengths, arrays)
    new = ids < 0
    if arrays.size > 0:
        new |= ~arrays.known_at(rows, np.maximum(ids, 0))
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
    matrix: PartitionMatrix | None = None,
) -> None:
    """``models[k].learn_bucket(t, counts[rows[k]])`` for every ``k``, in order, with the
    categories' population ids as :func:`score_bucket` found them (``ids``, flat in the order
    of ``counts``): learning looks up only the categories unknown then. With ``matrix``, all
    partitions learn in array steps over its rows
    (:func:`~trailspike.models.rare_matrix.learn_matrix`).
    """
    if matrix is not None and learn_matrix(matrix, models, t, counts, ids, rows):
        return
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
    (partition, known category), sorted and summed per row (the rows with a query that is not
    routine), serves all queries of a bucket.

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
    arrays = _Arrays(models, models[0].population.size, None)
    lengths = [len(c) for c in categories]
    out, _ = _score_flat(models, _ids(models, categories), lengths, arrays)
    return np.split(out, np.cumsum(lengths)[:-1])


def _ids(models: list[CategoryModel], categories: list[list[str]]) -> IntArray:
    """The categories' population ids, flat (-1: unknown)."""
    get = models[0].population.ids.get
    return np.array([get(k, -1) for cats in categories for k in cats], dtype=np.int64)


class _Arrays:
    """The bucket's partitions' arrays as ``[partition, category]`` matrices: rows of the
    detector's matrix, or the models' own arrays stacked (each on first use). The counts are
    copied whole (every score needs them); known flags and day bits are read per query."""

    def __init__(
        self, models: list[CategoryModel], size: int, matrix: PartitionMatrix | None
    ) -> None:
        self.models, self.size = models, size
        self._matrix = matrix
        self._counts: FloatArray | None = None
        self._index: npt.NDArray[np.intp] | None = None
        if matrix is not None:
            self._index = np.asarray(matrix.score_rows(models), dtype=np.intp)
            self._counts = matrix.rows_counts(self._index, size)

    def counts(self) -> FloatArray:
        """The counts, a new array (callers may change it in place)."""
        if self._counts is not None:
            return self._counts
        return _stack([m.c for m in self.models], self.size, np.float64)

    def known_at(self, rows: npt.NDArray[np.int64], cols: IntArray) -> BoolArray:
        """Whether partition ``rows[k]`` has used category ``cols[k]``, for every ``k``."""
        if self._matrix is not None and self._index is not None:
            return self._matrix.known_at(self._index[rows], cols)
        return _stack([m.known for m in self.models], self.size, np.bool_)[rows, cols]

    def seen_at(self, rows: npt.NDArray[np.int64], cols: IntArray) -> npt.NDArray[np.uint32]:
        """The day bits of category ``cols[k]`` in partition ``rows[k]``, for every ``k``."""
        if self._matrix is not None and self._index is not None:
            return self._matrix.seen_at(self._index[rows], cols)
        return _stack([m.seen for m in self.models], self.size, np.uint32)[rows, cols]


def _score_flat(
    models: list[CategoryModel], ids: IntArray, lengths: list[int], arrays: _Arrays
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """:func:`score_categories` of the queries with population ids ``ids`` (-1: unknown),
    ``lengths[r]`` of them for ``models[r]``, as one flat array, with each query's partition row."""
    pop = models[0].population
    size = arrays.size
    rows = np.repeat(np.arange(len(models)), lengths)
    denom = np.array([m.total for m in models]) + PRIOR_STRENGTH
    unseen = (PRIOR_STRENGTH * pop.unseen_prior() / denom)[rows]
    known = ids >= 0
    safe = np.maximum(ids, 0)
    out = np.clip(unseen, 1e-300, 1.0)  # nothing known yet: every category is the unseen share
    if size > 0:
        # In place on the counts' copy: the same sum and quotient as new arrays would hold.
        q_all = arrays.counts()
        q_all += PRIOR_STRENGTH * pop.priors()
        q_all /= denom[:, None]
        # A routine category's probability is 1 whatever its mass: only the others' is
        # computed (about three queries in four of the user job are routine), and only their
        # partitions' rows are sorted. Each query's mass depends on its own row alone.
        routine = _routine(models, rows, known, safe, arrays)
        ask = np.flatnonzero(~routine)
        out = np.ones(len(ids))
        if ask.shape[0]:
            out[ask] = _mass(q_all, rows[ask], known[ask], safe[ask], unseen[ask])
    return out, rows


def _routine(
    models: list[CategoryModel],
    rows: npt.NDArray[np.int64],
    known: BoolArray,
    safe: IntArray,
    arrays: _Arrays,
) -> BoolArray:
    """Whether each query's category was used on at least 80 % of its partition's recent
    active days (over at least :data:`ROUTINE_MIN_DAYS`)."""
    recent = CategoryModel.recent_days_of(models)
    n_recent = recent[:, 1][rows]
    if not (n_recent >= ROUTINE_MIN_DAYS).any():
        return np.zeros(len(rows), dtype=bool)
    masks = recent[:, 0].astype(np.uint32)[rows]
    days = np.bitwise_count(arrays.seen_at(rows, safe) & masks)
    routine = known & (n_recent >= ROUTINE_MIN_DAYS)
    routine &= days >= ROUTINE_DAY_FRACTION * n_recent
    return routine


def _mass(
    q_all: FloatArray,
    rows: npt.NDArray[np.int64],
    known: BoolArray,
    safe: IntArray,
    unseen: FloatArray,
) -> FloatArray:
    """The predictive mass at most as likely as each query (row ``rows[k]`` of ``q_all``,
    category ``safe[k]`` if ``known[k]``, else one nobody has used), in [1e-300, 1]. ``rows``
    ascending; only the rows queried are sorted."""
    size = q_all.shape[1]
    step = np.empty(len(rows), dtype=bool)  # where a query starts another row
    step[:1] = True
    np.not_equal(rows[1:], rows[:-1], out=step[1:])
    compact = np.cumsum(step) - 1  # each query's row among the rows queried
    if int(compact[-1]) + 1 < q_all.shape[0]:
        q_all = q_all[rows[step]]
    # Cells read by flat position (row * size + column): cheaper than (row, column) pairs.
    start = compact * size
    q = np.where(known, q_all.ravel()[start + safe], unseen)
    ordered = np.sort(q_all, axis=1)
    cumulative = np.cumsum(ordered, axis=1).ravel()
    below = _at_most(ordered, compact, q * TIE)
    mass = np.where(below > 0, cumulative[start + np.maximum(below - 1, 0)], 0.0)
    # The category itself when the population never saw it (its q is the unseen share),
    # and otherwise the mass of the categories nobody has used yet if at most as likely.
    mass += np.where(known, np.where(unseen <= q, unseen, 0.0), q)
    return np.clip(mass, 1e-300, 1.0)


def _at_most(
    ordered: FloatArray, rows: npt.NDArray[np.int64], limit: FloatArray
) -> npt.NDArray[np.int64]:
    """How many values of row ``rows[k]`` of ``ordered`` (each row ascending) are at most
    ``limit[k]``, for every query ``k``, in one ``searchsorted``.

    Each value becomes the complex number ``row + value j``: numpy orders complex numbers by
    real part, then imaginary part, so the flattened matrix is sorted and a query lands among
    its own row's values, compared exactly (no value is rounded, unlike an offset added in
    float space). One search per row was a Python loop of ~200 calls per bucket (0.36 against
    0.08 ms for 200 rows of 150 categories).

    >>> ordered = np.array([[0.1, 0.2, 0.2], [0.0, 0.5, 0.9]])
    >>> _at_most(ordered, np.array([0, 0, 1]), np.array([0.2, 0.05, 0.5])).tolist()
    [3, 0, 2]
    """
    n_rows, size = ordered.shape
    keys = np.empty((n_rows, size), dtype=np.complex128)
    keys.real = np.arange(n_rows, dtype=np.float64)[:, None]
    keys.imag = ordered
    queries = np.empty(len(rows), dtype=np.complex128)
    queries.real = rows
    queries.imag = limit
    found: npt.NDArray[np.int64] = np.searchsorted(keys.ravel(), queries, side="right")
    return found - rows * size


def surprise_bits(probability: float) -> float:
    """``-log2 p``: how surprising a probability is, in bits.

    >>> surprise_bits(0.25)
    2.0
    """
    return -math.log2(max(probability, 1e-300))
