"""A rare detector's partitions' count arrays as rows of shared matrices.

Each :class:`~trailspike.models.rare.CategoryModel` keeps three arrays indexed by population id
(decayed counts ``c``, ``known``, the day bits ``seen``). Learning and scoring one bucket of a
detector one partition at a time is about ten small numpy steps per partition; with the arrays
as rows of one matrix each (:class:`PartitionMatrix`) they are a few steps over all the bucket's
partitions (:func:`learn_matrix`, and the gathers in :mod:`trailspike.models.rare_scoring`).

Implementation decisions: a partition's arrays stay its own attributes, as *views* of its row
(``matrix.c[row, :capacity]``, the capacity its own array would have had), so the per-partition
API still works, a pickled model is byte for byte what the standalone arrays gave, and the
memory estimate is unchanged. The matrix is a cache owned by the detector's models, never
pickled: after a load each partition is adopted (copied into a row) at its first batch use. A
partition whose arrays were replaced meanwhile (one grown by its own ``learn_bucket``) is
detected by its views no longer being the matrix's and adopted again. Row 0 stays zero: the
row of a partition not modelled yet (scored against the population only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from trailspike.models.novelty import NOVELTY_LEARNING_DAYS
from trailspike.models.rare import DAY, RARE_HALF_LIFE, RING, CategoryModel, IntArray

T = TypeVar("T", bound=np.generic)


def _capacity(size: int, current: int) -> int:
    """The capacity :func:`trailspike.models.rare._grown` gives an array of ``current`` rows
    that must hold ``size``."""
    return current if current >= size else max(size, 2 * current, 8)


def _flat(matrix: npt.NDArray[T]) -> npt.NDArray[T]:
    """A 1-D view of ``matrix`` (cell ``row * width + column``); the matrices are made by
    ``np.zeros`` and never sliced, so C-contiguous, and writes through the view land."""
    assert matrix.flags.c_contiguous
    return matrix.reshape(-1)


class PartitionMatrix:
    """Rows of one detector's partitions' ``c``, ``known`` and ``seen`` arrays."""

    def __init__(self) -> None:
        self.c: npt.NDArray[np.float64] = np.zeros((8, 8))
        self.known: npt.NDArray[np.bool_] = np.zeros((8, 8), dtype=bool)
        self.seen: npt.NDArray[np.uint32] = np.zeros((8, 8), dtype=np.uint32)
        self.models: list[CategoryModel | None] = [None]  # row 0: the zero row
        self.free: list[int] = []
        self.row_of: dict[int, int] = {}  # id(model) -> row (the model is held in ``models``)

    # ---------------------------------------------------------------- rows
    def _attached(self, model: CategoryModel) -> bool:
        return (
            model.c.base is self.c
            and model.known.base is self.known
            and model.seen.base is self.seen
        )

    def rows(self, models: Sequence[CategoryModel]) -> list[int]:
        """Each model's row, adopting the models not (or no longer) held as rows."""
        return self._rows(models, False)

    def score_rows(self, models: Sequence[CategoryModel]) -> list[int]:
        """:meth:`rows`, with the zero row for an empty model not held (a partition not
        modelled yet is scored, not learnt: it needs no row)."""
        return self._rows(models, True)

    def _rows(self, models: Sequence[CategoryModel], empty_to_zero: bool) -> list[int]:
        # Called twice a bucket for ~every partition: the attachment test is inlined
        # (:meth:`_attached`), the matrices read again only after an adoption moved them.
        out = []
        get = self.row_of.get
        c, known, seen = self.c, self.known, self.seen
        for model in models:
            row = get(id(model))
            if (
                row is not None
                and model.c.base is c
                and model.known.base is known
                and model.seen.base is seen
            ):
                out.append(row)
                continue
            if row is None and empty_to_zero and model.c.shape[0] == 0 and model.total == 0.0:
                out.append(0)
                continue
            out.append(self._adopt(model, row))
            c, known, seen = self.c, self.known, self.seen
        return out

    def _adopt(self, model: CategoryModel, row: int | None) -> int:
        """Copy ``model``'s arrays into a row (its own or a new one) and view them there."""
        if row is None:
            row = self.free.pop() if self.free else len(self.models)
            if row == len(self.models):
                self.models.append(model)
            else:
                self.models[row] = model
            self.row_of[id(model)] = row
        width = max(model.c.shape[0], model.known.shape[0], model.seen.shape[0])
        self._fit(row + 1, width)
        for name in ("c", "known", "seen"):
            matrix, own = getattr(self, name), getattr(model, name)
            matrix[row] = 0
            matrix[row, : own.shape[0]] = own
            setattr(model, name, matrix[row, : own.shape[0]])
        return row

    def release(self, model: CategoryModel) -> None:
        """Give ``model`` its own arrays again and free its row (a pruned partition)."""
        row = self.row_of.pop(id(model), None)
        if row is None:
            return
        if self._attached(model):
            model.c, model.known, model.seen = model.c.copy(), model.known.copy(), model.seen.copy()
        for matrix in (self.c, self.known, self.seen):
            matrix[row] = 0
        self.models[row] = None
        self.free.append(row)

    def _fit(self, rows: int, width: int) -> None:
        """Room for ``rows`` rows of ``width`` columns; views of held models follow a move."""
        height, columns = self.c.shape
        if rows <= height and width <= columns:
            return
        shape = (max(rows, height if rows <= height else 2 * height), _capacity(width, columns))
        # Models whose arrays were replaced meanwhile keep them (they are adopted again).
        held = [
            (row, model)
            for row, model in enumerate(self.models)
            if model is not None and self._attached(model)
        ]
        for name in ("c", "known", "seen"):
            old = getattr(self, name)
            new = np.zeros(shape, dtype=old.dtype)
            new[:height, :columns] = old
            setattr(self, name, new)
        for row, model in held:
            for name in ("c", "known", "seen"):
                size = getattr(model, name).shape[0]
                setattr(model, name, getattr(self, name)[row, :size])

    def grow(self, model: CategoryModel, row: int, size: int) -> None:
        """Let ``model``'s arrays (held in ``row``) hold ids below ``size``, with the capacity
        its own arrays would have grown to."""
        capacity = _capacity(size, model.c.shape[0])
        self._fit(row + 1, capacity)
        model.c = self.c[row, :capacity]
        model.known = self.known[row, :capacity]
        model.seen = self.seen[row, :capacity]

    def rows_counts(self, index: npt.NDArray[np.intp], size: int) -> npt.NDArray[np.float64]:
        """A copy of the counts of rows ``index``, ``size`` columns each (zero padded, as
        :func:`trailspike.models.rare_scoring._stack` gives them); known flags and day bits
        are read where queried (:meth:`known_at`, :meth:`seen_at`), not copied whole."""
        self._fit(1, size)
        return self.c[index, :size]

    def known_at(
        self, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """``known[rows[k], cols[k]]`` for every ``k`` (columns below the width
        :meth:`rows_counts` made room for)."""
        return _flat(self.known)[rows * self.known.shape[1] + cols]

    def seen_at(
        self, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.uint32]:
        """``seen[rows[k], cols[k]]`` for every ``k`` (as :meth:`known_at`)."""
        return _flat(self.seen)[rows * self.seen.shape[1] + cols]


def learn_matrix(
    matrix: PartitionMatrix,
    models: list[CategoryModel],
    t: float,
    counts: list[dict[str, int]],
    ids: IntArray,
    rows: list[int],
) -> bool:
    """:func:`learn_flat` of buckets given as ``{category: count}`` per partition."""
    bounds = np.cumsum([0, *map(len, counts)]).tolist()
    values = np.fromiter(
        chain.from_iterable(c.values() for c in counts), dtype=np.int64, count=bounds[-1]
    )

    def name_of(j: int) -> str:
        group = int(np.searchsorted(bounds, j, side="right")) - 1
        name: str = list(counts[group])[j - bounds[group]]
        return name

    return learn_flat(matrix, models, t, ids, values, bounds, rows, name_of)


def learn_flat(
    matrix: PartitionMatrix,
    models: list[CategoryModel],
    t: float,
    ids: IntArray,
    values: IntArray,
    bounds: list[int],
    rows: list[int],
    name_of: Callable[[int], str],
) -> bool:
    """``models[k]`` learns group ``rows[k]`` of the bucket at ``t``, for every ``k`` in order,
    in array steps over the matrix. The bucket is flat: group ``g`` is entries
    ``bounds[g]:bounds[g + 1]`` of ``ids`` (population ids when scored, -1 if unknown then;
    ``name_of(j)`` names entry ``j``) and ``values`` (counts). False (nothing learnt) for a
    bucket with an empty group or a count below 1, which the per-partition path handles.

    The result is exactly that of learning one partition after the other: each partition's
    decay factor is Python's ``**`` as in ``_learn``, a partition's count and total get the
    same additions in the same order, the population's ``m`` and ``total`` get their ones in
    partition order, new categories are numbered in partition order and novelty is added in
    partition order.
    """
    if not models:
        return True
    pop = models[0].population
    lengths = [bounds[r + 1] - bounds[r] for r in rows]
    if len(rows) == len(bounds) - 1:
        entries = np.arange(bounds[-1])
    else:
        entries = np.concatenate([np.arange(bounds[r], bounds[r + 1]) for r in rows])
    n = int(entries.shape[0])
    counts = values[entries]
    if n == 0 or min(lengths) == 0 or int(counts.min()) < 1:
        return False
    cols = ids[entries]
    if (cols < 0).any():
        # Unknown when scored: numbered in partition order, as learning one by one does.
        cols = cols.copy()
        for j in np.flatnonzero(cols < 0).tolist():
            cols[j] = pop.id_of(name_of(int(entries[j])))
    where = matrix.rows(models)
    owner = np.repeat(np.arange(len(models)), lengths)
    starts = np.cumsum([0, *lengths[:-1]])
    tops = (np.maximum.reduceat(cols, starts) + 1).tolist()
    day = int(t // DAY)
    slot = day % RING
    factors, new_day, no_slot = _grow_decay_and_days(matrix, models, where, tops, t, day, slot)
    index = np.asarray(where, dtype=np.intp)
    _decay_rows(matrix, index, np.array(factors), pop.size)
    if new_day:
        clear = np.uint32(~(1 << slot) & 0xFFFFFFFF)
        matrix.seen[index[new_day]] &= clear
    # The entries' cells as flat positions: 1-D fancy indexing costs less than (row, col).
    cells = index[owner] * matrix.c.shape[1] + cols
    known = _flat(matrix.known)
    first = ~known[cells]
    first_cols = cols[first]
    np.add.at(pop.m, first_cols, 1.0)
    for _ in range(int(first_cols.shape[0])):
        pop.total += 1.0
    known[cells] = True
    weighted = models[0].frequency_weighted
    _flat(matrix.c)[cells] += counts.astype(np.float64) if weighted else 1.0
    dated = cells if not no_slot else cells[~np.isin(owner, no_slot)]
    _flat(matrix.seen)[dated] |= np.uint32(1 << slot)
    added = np.bincount(owner, weights=counts, minlength=len(models)) if weighted else None
    new = np.bincount(owner[first], minlength=len(models)).tolist()
    learnt = []  # new categories of the partitions past their learning days, in order
    for k, model in enumerate(models):
        # Decayed, then added to: the two roundings of ``total *= f`` and ``total += n``
        # (a factor of 1 when the model did not decay leaves it as it is).
        increment = float(added[k]) if added is not None else float(lengths[k])
        model.total = model.total * factors[k] + increment
        if model.days_active > NOVELTY_LEARNING_DAYS:
            model.novelty.add(t, new[k])
            learnt.append(new[k])
        model.last_t = t if model.last_t is None else max(model.last_t, t)
    pop.novelty.add_many(t, learnt)
    return True


def _decay_rows(
    matrix: PartitionMatrix,
    index: npt.NDArray[np.intp],
    factors: npt.NDArray[np.float64],
    width: int,
) -> None:
    """Multiply rows ``index`` of the counts by ``factors``, as each model's ``c *= factor``.

    Only the first ``width`` columns (the population's ids): the others are zero in every row
    and stay so. When the bucket holds most rows, every row is scaled in place (a factor of 1
    for the others leaves them exactly as they are), which avoids the copy a fancy-indexed
    ``c[index] *= f`` reads and writes back."""
    counts = matrix.c[:, :width]
    if 2 * index.shape[0] >= counts.shape[0]:
        every = np.ones(counts.shape[0])
        every[index] = factors
        counts *= every[:, None]
    else:
        counts[index] *= factors[:, None]


def _grow_decay_and_days(
    matrix: PartitionMatrix,
    models: list[CategoryModel],
    where: list[int],
    tops: list[int],
    t: float,
    day: int,
    slot: int,
) -> tuple[list[float], list[int], list[int]]:
    """In one pass over the models: each one's arrays grown to hold ids below ``tops[k]``
    (its row ``where[k]``), its decay factor and its day slot, as ``_learn`` and ``_day_slot``
    do them; returns the factors (1 where the model does not decay; its total is decayed by
    the caller), the models starting a new day in ``slot`` and those for which ``day`` is
    older than their ring (no day bit)."""
    factors = [1.0] * len(models)
    new_day: list[int] = []
    no_slot: list[int] = []
    for k, model in enumerate(models):
        if tops[k] > model.c.shape[0]:
            matrix.grow(model, where[k], tops[k])
        last = model.last_t
        if last is not None and t > last:
            factors[k] = 0.5 ** ((t - last) / RARE_HALF_LIFE)
        held = int(model.slot_day[slot])
        if held == day:
            continue
        if held > day:
            no_slot.append(k)
            continue
        model.slot_day[slot] = day
        model.slot_active[slot] = True
        model.days_active += 1
        model._recent = None
        new_day.append(k)
    return factors, new_day, no_slot
