"""One bucket's feature rows of a ``rare`` detector, per model, as arrays or dicts.

A rare detector's models want a bucket's counts per (partition, over). :class:`RareRows` holds
the bucket's rows of the chunk's Arrow feature columns and gives them three ways:

- :attr:`RareRows.flat` (:class:`FlatRows`), what learning and scoring read: each model's run
  of rows (rows come sorted by partition, by, over), the ``by`` values as codes of the chunk's
  dictionary (:class:`ChunkCategories`, encoded once per chunk and mapped to population ids in
  one step per bucket) and the counts, all arrays;
- :attr:`RareRows.groups`, ``{(partition, over): {by: count}}``, built when asked (custom-rule
  skips, a run met twice, a detector whose models are not category models);
- the ``{(partition, by, over): value}`` mapping every other caller reads, built when asked.

Implementation decisions: building the flat mapping of 1.5M keys and regrouping it per
partition in Python was 1.55 s of the user job's 17 s (session 3); the dicts per partition
and the population id looked up per row were about 1 s more (session 5). The groups and their
order are exactly what :func:`group_rows` gives (groups in order of first appearance,
categories in row order, counts as ``int``), and :class:`FlatRows` is those same groups in the
same order: it is only offered when each model's rows are one run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trailspike.models.rare import PopulationModel

Key = tuple[str, str, str]
Groups = dict[tuple[str, str], dict[str, int]]
Columns = tuple[list[str], list[str], list[str], list[float]]


class ChunkCategories:
    """The ``by`` values of a chunk's feature rows, dictionary-encoded once (``names[code]``),
    and each code's population id, kept up to date as the population numbers categories."""

    __slots__ = ("_ids", "_population", "names")

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self._population: object | None = None
        self._ids: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def ids(self, population: PopulationModel) -> npt.NDArray[np.int64]:
        """Each code's id in ``population`` now (-1: unknown to it), as ``ids.get`` gives it.
        Ids never change once given, so only the codes unknown at the last call are looked up."""
        get = population.ids.get
        if self._population is not population:
            self._population = population
            self._ids = np.array([get(name, -1) for name in self.names], dtype=np.int64)
            return self._ids
        for code in np.flatnonzero(self._ids < 0).tolist():
            self._ids[code] = get(self.names[code], -1)
        return self._ids


class ChunkColumns:
    """The chunk's ``partition``, ``by``, ``over`` and ``value`` feature columns: Arrow, and as
    Python lists only once something asks (a rare detector's rows read as arrays never do)."""

    __slots__ = ("_counts", "_lists", "_table")

    def __init__(self, table: pa.Table) -> None:
        self._table = table.select(["partition", "by", "over", "value"])
        self._lists: Columns | None = None
        self._counts: list[int] | None = None

    def lists(self) -> Columns:
        """The four columns as lists (converted once)."""
        if self._lists is None:
            cols = self._table.to_pydict()
            self._lists = (cols["partition"], cols["by"], cols["over"], cols["value"])
        return self._lists

    def counts(self) -> list[int]:
        """``value`` as ``int`` per row, as the rare models count them (converted once)."""
        if self._counts is None:
            self._counts = self._table["value"].to_numpy().astype(np.int64).tolist()
        return self._counts

    def keys_at(self, rows: list[int]) -> list[tuple[str, str]]:
        """(partition, over) of the given rows."""
        if self._lists is not None:
            parts, _, overs, _ = self._lists
            return [(parts[a], overs[a]) for a in rows]
        index = pa.array(rows, pa.int64())
        parts = self._table["partition"].take(index).to_pylist()
        overs = self._table["over"].take(index).to_pylist()
        return list(zip(parts, overs, strict=True))


@dataclass(frozen=True)
class FlatRows:
    """A bucket's rare rows as arrays, one run of rows per model: ``keys[g]`` (partition,
    over) owns rows ``bounds[g]:bounds[g + 1]`` of ``codes`` (the ``by`` values' codes in
    ``categories``) and ``counts``."""

    keys: list[tuple[str, str]]
    bounds: list[int]
    codes: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    categories: ChunkCategories

    @property
    def lengths(self) -> list[int]:
        return [b - a for a, b in pairwise(self.bounds)]


class RareRows(Mapping[Key, float]):
    """Feature rows ``lo:hi`` of the chunk's columns: their per-model ``groups``, built when
    first asked, and, when every model's rows are one run, the same rows as :class:`FlatRows`
    (the models' learning and scoring read those, never the dicts)."""

    __slots__ = ("_columns", "_flat", "_groups", "_hi", "_lo", "_runs", "flat")

    def __init__(
        self,
        columns: ChunkColumns,
        runs: npt.NDArray[np.intp],
        lo: int,
        hi: int,
        encoded: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], ChunkCategories] | None = None,
    ) -> None:
        self._columns = columns
        self._runs = runs
        self._lo, self._hi = lo, hi
        self._flat: dict[Key, float] | None = None
        self._groups: Groups | None = None
        self.flat = _flat_rows(columns, runs, lo, hi, encoded) if encoded is not None else None

    @property
    def groups(self) -> Groups:
        """``{(partition, over): {by: count}}`` of the rows (:func:`rare_groups`)."""
        if self._groups is None:
            parts, bys, overs, _ = self._columns.lists()
            counts = self._columns.counts()
            self._groups = rare_groups(parts, bys, overs, counts, self._runs, self._lo, self._hi)
        return self._groups

    def _mapping(self) -> dict[Key, float]:
        if self._flat is None:
            parts, bys, overs, values = self._columns.lists()
            lo, hi = self._lo, self._hi
            keys = zip(parts[lo:hi], bys[lo:hi], overs[lo:hi], strict=True)
            self._flat = dict(zip(keys, values[lo:hi], strict=True))
        return self._flat

    def __getitem__(self, key: Key) -> float:
        return self._mapping()[key]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return self._hi - self._lo


def _flat_rows(
    columns: ChunkColumns,
    runs: npt.NDArray[np.intp],
    lo: int,
    hi: int,
    encoded: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], ChunkCategories],
) -> FlatRows | None:
    """Rows ``lo:hi`` as :class:`FlatRows`, or None when a model's rows are not one run (an
    over value met again under its partition: the groups merge runs) or a ``by`` is null."""
    inside = runs[np.searchsorted(runs, lo, side="right") : np.searchsorted(runs, hi)]
    bounds = [lo, *inside.tolist(), hi]
    keys = columns.keys_at(bounds[:-1])
    codes, counts, categories = encoded
    if len(set(keys)) < len(keys) or (codes[lo:hi] < 0).any():
        return None
    return FlatRows(keys, [b - lo for b in bounds], codes[lo:hi], counts[lo:hi], categories)


def run_starts(
    partitions: npt.NDArray[np.int64], overs: npt.NDArray[np.int64]
) -> npt.NDArray[np.intp]:
    """Row numbers where the (partition, over) codes change from the row before.

    >>> run_starts(np.array([0, 0, 1, 1, 1]), np.array([0, 0, 0, 1, 1])).tolist()
    [2, 3]
    """
    change = (np.diff(partitions) != 0) | (np.diff(overs) != 0)
    out: npt.NDArray[np.intp] = np.flatnonzero(change) + 1
    return out


def rare_groups(
    parts: Sequence[str],
    bys: Sequence[str],
    overs: Sequence[str],
    counts: Sequence[int],
    starts: npt.NDArray[np.intp],
    lo: int,
    hi: int,
) -> Groups:
    """``{(partition, over): {by: count}}`` of rows ``lo:hi``; ``starts`` from :func:`run_starts`.

    >>> parts, bys, overs = ["u1", "u1", "u2"], ["A", "B", "A"], ["", "", ""]
    >>> starts = run_starts(np.array([0, 0, 1]), np.array([0, 0, 0]))
    >>> rare_groups(parts, bys, overs, [2, 1, 5], starts, 0, 3)
    {('u1', ''): {'A': 2, 'B': 1}, ('u2', ''): {'A': 5}}
    """
    inside = starts[np.searchsorted(starts, lo, side="right") : np.searchsorted(starts, hi)]
    bounds = [lo, *inside.tolist(), hi]
    groups: Groups = {}
    for a, b in pairwise(bounds):
        key = (parts[a], overs[a])
        found = groups.get(key)
        if found is None:
            groups[key] = dict(zip(bys[a:b], counts[a:b], strict=True))
        else:  # an over value met again under the same partition: same group, row order
            found.update(zip(bys[a:b], counts[a:b], strict=True))
    return groups


def group_rows(
    values: Mapping[Key, float], skip: set[Key] | None = None
) -> dict[tuple[str, str], dict[str, int]]:
    """Bucket counts of a rare detector grouped by model: (partition, over) -> {by: count}.

    >>> group_rows({("u1", "A", ""): 2.0, ("u1", "B", ""): 1.0, ("u2", "A", ""): 5.0})
    {('u1', ''): {'A': 2, 'B': 1}, ('u2', ''): {'A': 5}}
    """
    groups: dict[tuple[str, str], dict[str, int]] = {}
    last: tuple[str, str] | None = None
    current: dict[str, int] = {}
    # Feature rows arrive sorted by partition, so consecutive keys mostly share a group.
    for (partition, by, over), value in values.items():
        if skip and (partition, by, over) in skip:
            continue
        if last is None or last[0] != partition or last[1] != over:
            last = (partition, over)
            current = groups.setdefault(last, {})
        current[by] = int(value)
    return groups
