"""Influences of many records as flat columns, and the influencer results they give.

A flush explains hundreds of thousands of ``rare`` records' influences at once (the user job:
824,000 shares over 21 days). :func:`trailspike.features.record_evidence.record_evidence_of`
returns them as columns; a record keeps only where its rows are (:class:`Shares`), and
:func:`gather` lines the influences of the records being written up as one
:class:`InfluenceColumns`, from which the records' influencer JSON
(:func:`trailspike.jobs.records.influencers_column`) and the influencer results
(:func:`influencer_columns`) are built in array steps.

Implementation decisions: an influencer result's probability is the record's raised to the
share, computed with Python's ``pow`` (what ``p ** share`` did per influence): numpy's
vectorised power differs from libm's in the last bit for about 5 % of inputs on this machine
(AVX-512), and results must not change. Per bucket and value the lowest probability wins, the
first record's on a tie, and rows come in the order their values were first met, as the
per-record loop they replace (:meth:`trailspike.jobs.explain.Explanations._bucket_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trailspike.features.record_evidence import ShareColumns
from trailspike.jobs.influence import Influence
from trailspike.models.normalizer import ScoreNormalizer

IntArray = npt.NDArray[np.int64]


class Shares(NamedTuple):
    """A record's influences: rows ``lo:hi`` of a flush's :class:`ShareColumns`."""

    columns: ShareColumns
    lo: int
    hi: int


Found = list[Influence] | Shares | None
"""A record's influences: a list, its rows of a flush's shares, or None (not counted yet)."""


@dataclass(frozen=True)
class InfluenceColumns:
    """The influences of many records, flat: record ``n``'s are ``lengths[n]`` consecutive rows.
    ``field_codes`` index ``fields``.

    >>> found = [[Influence("user.name", "bob", 1.0)], [], [Influence("source.ip", "a", 0.5)]]
    >>> cols = InfluenceColumns.from_lists(found)
    >>> cols.lengths.tolist(), cols.lists() == found
    ([1, 0, 1], True)
    """

    lengths: IntArray
    fields: tuple[str, ...]
    field_codes: IntArray
    values: pa.Array
    shares: npt.NDArray[np.float64]

    @classmethod
    def from_lists(cls, found: Sequence[list[Influence]]) -> InfluenceColumns:
        lengths = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
        flat = [inf for f in found for inf in f]
        codes: dict[str, int] = {}
        field_codes = [codes.setdefault(inf.field, len(codes)) for inf in flat]
        return cls(
            lengths,
            tuple(codes),
            np.array(field_codes, dtype=np.int64),
            pa.array([inf.value for inf in flat], pa.string()),
            np.array([inf.influence for inf in flat], dtype=np.float64),
        )

    def of(self, n: int) -> list[Influence]:
        """Record ``n``'s influences."""
        lo = int(self.lengths[:n].sum())
        return self._slice(lo, lo + int(self.lengths[n]))

    def rows(self, lo: int, hi: int) -> list[Influence]:
        """The influences in rows ``lo:hi`` (a record's, given where its rows start)."""
        return self._slice(lo, hi)

    def lists(self) -> list[list[Influence]]:
        """Every record's influences."""
        bounds = np.concatenate([[0], np.cumsum(self.lengths)]).tolist()
        return [self._slice(lo, hi) for lo, hi in pairwise(bounds)]

    def _slice(self, lo: int, hi: int) -> list[Influence]:
        names = [self.fields[c] for c in self.field_codes[lo:hi].tolist()]
        values = self.values[lo:hi].to_pylist()
        shares = self.shares[lo:hi].tolist()
        return [Influence(*row) for row in zip(names, values, shares, strict=True)]


def gather(found: Sequence[Found], fields: tuple[str, ...]) -> InfluenceColumns:
    """The influences of records in order, as one :class:`InfluenceColumns` whose codes index
    ``fields`` (the names a :class:`Shares`' codes index; a list may name others)."""
    rows = [f for f in found if isinstance(f, Shares)]
    if rows and len(rows) == len(found) and all(f.columns is rows[0].columns for f in rows):
        # The common case, every record's rows in one flush's shares: no loop per record.
        first = np.fromiter((f.lo for f in rows), np.int64, len(rows))
        ends = np.fromiter((f.hi for f in rows), np.int64, len(rows))
        return _taken(rows[0].columns, fields, first, ends - first)
    names = list(fields)
    code_of = {name: n for n, name in enumerate(names)}
    pools: list[ShareColumns] = []
    pool_of: dict[int, int] = {}
    listed: list[Influence] = []
    source: list[int] = []
    starts: list[int] = []
    lengths: list[int] = []
    for f in found:
        if isinstance(f, Shares):
            pool = pool_of.get(id(f.columns))
            if pool is None:
                pool = pool_of[id(f.columns)] = len(pools)
                pools.append(f.columns)
            source.append(pool)
            starts.append(f.lo)
            lengths.append(f.hi - f.lo)
        else:
            source.append(-1)
            starts.append(len(listed))
            lengths.append(len(f) if f else 0)
            listed.extend(f or [])
    if listed:
        for inf in listed:
            code_of.setdefault(inf.field, len(code_of))
        names = list(code_of)
        pools.append(_listed_columns(listed, code_of))
    base = np.cumsum([0, *(len(p.field) for p in pools)])
    pool_index = np.array(source, dtype=np.int64)
    pool_index[pool_index < 0] = len(pools) - 1  # the listed influences' pool is the last
    counts = np.array(lengths, dtype=np.int64)
    first = base[pool_index] + np.array(starts, dtype=np.int64)
    if not pools:
        return InfluenceColumns(
            counts, tuple(names), first[:0], pa.array([], pa.string()), np.zeros(0)
        )
    pooled = ShareColumns(
        np.zeros(0, np.int64),
        np.concatenate([p.field for p in pools]),
        pa.concat_arrays([p.value for p in pools]),
        np.concatenate([p.share for p in pools]),
    )
    return _taken(pooled, tuple(names), first, counts)


def _taken(
    columns: ShareColumns, fields: Sequence[str], first: IntArray, counts: IntArray
) -> InfluenceColumns:
    """Record ``n``'s influences are rows ``first[n]`` on (``counts[n]`` of them) of
    ``columns``."""
    take = _ranges(first, counts)
    return InfluenceColumns(
        counts,
        tuple(fields),
        columns.field[take],
        columns.value.take(pa.array(take)),
        columns.share[take],
    )


def _listed_columns(listed: list[Influence], code_of: dict[str, int]) -> ShareColumns:
    return ShareColumns(
        np.zeros(len(listed), dtype=np.int64),
        np.array([code_of[inf.field] for inf in listed], dtype=np.int64),
        pa.array([inf.value for inf in listed], pa.string()),
        np.array([inf.influence for inf in listed], dtype=np.float64),
    )


def _ranges(first: IntArray, counts: IntArray) -> IntArray:
    """``first[n], first[n] + 1, ... first[n] + counts[n] - 1`` for every ``n``, concatenated.

    >>> _ranges(np.array([5, 0, 2]), np.array([2, 0, 3])).tolist()
    [5, 6, 2, 3, 4]
    """
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    out: IntArray = np.repeat(first - (ends - counts), counts) + np.arange(total, dtype=np.int64)
    return out


def influencer_columns(
    job_id: str,
    span: int,
    buckets: Sequence[datetime],
    normalizers: Sequence[ScoreNormalizer],
    bucket_of: Sequence[int],
    probabilities: Sequence[float],
    confidences: Sequence[float],
    found: InfluenceColumns,
) -> dict[str, Any] | None:
    """Influencer results of records (record ``n`` of bucket ``buckets[bucket_of[n]]``, scored
    with ``normalizers[bucket_of[n]]``) as columns, or None without influences: per bucket
    and value, the lowest of ``probabilities[n] ** share`` and its record's confidence."""
    total = int(found.lengths.sum())
    if total == 0:
        return None
    record = np.repeat(np.arange(len(found.lengths), dtype=np.int64), found.lengths)
    record_list = record.tolist()
    powers = map(pow, [probabilities[n] for n in record_list], found.shares.tolist())
    p = np.fromiter(powers, dtype=np.float64, count=total)
    bucket = np.asarray(bucket_of, dtype=np.int64)[record]
    value = found.values.dictionary_encode().indices.to_numpy().astype(np.int64)
    position = np.arange(total, dtype=np.int64)
    order = np.lexsort((position, p, value, found.field_codes, bucket))
    key = np.stack([bucket[order], found.field_codes[order], value[order]])
    starts = np.flatnonzero(np.concatenate([[True], (np.diff(key, axis=1) != 0).any(axis=0)]))
    winners = order[starts]
    met = np.minimum.reduceat(position[order], starts)  # where each value was first met
    winners = winners[np.argsort(met, kind="stable")]
    won_p, won_bucket = p[winners], bucket[winners]
    won_conf = np.asarray(confidences, dtype=np.float64)[record[winners]]
    scores = np.empty(len(winners))
    edges = np.flatnonzero(np.diff(won_bucket)) + 1
    for lo, hi in zip([0, *edges.tolist()], [*edges.tolist(), len(winners)], strict=True):
        normalizer = normalizers[int(won_bucket[lo])]
        scores[lo:hi] = normalizer.normalize_many(won_p[lo:hi], won_conf[lo:hi])
    n = len(winners)
    return {
        "job_id": [job_id] * n,
        "timestamp": [buckets[b] for b in won_bucket.tolist()],
        "bucket_span": [span] * n,
        "influencer_field_name": [found.fields[c] for c in found.field_codes[winners].tolist()],
        "influencer_field_value": found.values.take(pa.array(winners)),
        "influencer_score": scores,
        "initial_influencer_score": scores,
        "probability": won_p,
        "is_interim": [False] * n,
        "score_confidence": won_conf,
    }
