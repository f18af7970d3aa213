"""One bucket's feature rows of a ``rare`` detector, grouped per model in array steps.

A rare detector's models want a bucket's counts per (partition, over): ``{by: count}``.
:class:`RareRows` carries those groups, built from the chunk's Arrow feature columns with one
``dict(zip(...))`` per run of rows sharing a partition and over value (rows come sorted by
partition, by, over), and is also the ``{(partition, by, over): value}`` mapping every other
caller reads, built only when one asks (learning with custom-rule skips, say).

Implementation decisions: building that flat mapping of 1.5M keys and regrouping it per
partition in Python was 1.55 s of the user job's 17 s (``BucketProcessor.group`` and
``detectors._rare_groups``); the groups and their order are exactly what ``_rare_groups`` gives
(groups in order of first appearance, categories in row order, counts as ``int``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt

Key = tuple[str, str, str]
Groups = dict[tuple[str, str], dict[str, int]]


class RareRows(Mapping[Key, float]):
    """Feature rows ``lo:hi`` of the chunk's columns, with their per-model ``groups``."""

    __slots__ = ("_columns", "_flat", "_hi", "_lo", "groups")

    def __init__(
        self,
        groups: Groups,
        columns: tuple[Sequence[str], Sequence[str], Sequence[str], Sequence[float]],
        lo: int,
        hi: int,
    ) -> None:
        self.groups = groups
        self._columns = columns
        self._lo, self._hi = lo, hi
        self._flat: dict[Key, float] | None = None

    def _mapping(self) -> dict[Key, float]:
        if self._flat is None:
            parts, bys, overs, values = self._columns
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
