"""Rare records' first events and influencer shares, columns in and columns out.

The statement behind :func:`trailspike.features.evidence.record_evidence_columns`: one scan
per flush finds, for every waiting record of one detector, when its series was first seen in
its bucket (early records of rare categories) and the influencer values holding at least a
cutoff of their field's events. The records come in as columns (:class:`WantedColumns`) and
both answers go out as columns (:class:`FirstColumns`, :class:`ShareColumns`): the user job
explains 180,000 records over 21 days, and a tuple per record in and a dict entry per first
event out were a third of the Python around the query.

Implementation decisions: the same rules as :mod:`.bucket_duckdb`, whose SQL builder this
module shares: SQL text only from fixed fragments and whitelisted column names, every value a
bound parameter (the records' keys are an Arrow table joined by the query). DuckDB only joins
the events to the records; the first events, the cut of flagged records and the shares are
counted in numpy from the joined rows (a few thousand a flush, an event or two per record):
DuckDB's aggregates over them were two thirds of the statement's CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from trailspike.features.bucket_duckdb import (
    SqlBuilder,
    add_split_columns,
    bucket_expr,
    where_clause,
)
from trailspike.features.contract import DetectorFeature, FeatureRequest
from trailspike.features.query import field_sql

Key = tuple[str, str, str]


class WantedColumns(NamedTuple):
    """The records to explain, record ``n`` being the ``n``-th of each list: its bucket start,
    series ``(partition, by, over)``, data end (None: the bucket's end) and whether to stop at
    the end of the minute of the series' first event in the bucket."""

    buckets: Sequence[datetime]
    keys: Sequence[Key]
    untils: Sequence[datetime | None]
    first: Sequence[bool]


class ShareColumns(NamedTuple):
    """:func:`record_evidence_of`'s influencer shares: row ``i`` is ``record[i]``'s value
    ``value[i]`` of influencer ``field[i]`` with ``share[i]`` of that field's events; rows
    sorted by record, per record most influential first."""

    record: npt.NDArray[np.int64]
    field: npt.NDArray[np.int64]
    value: pa.Array
    share: npt.NDArray[np.float64]


class FirstColumns(NamedTuple):
    """:func:`record_evidence_of`'s first events, by ascending record number: record
    ``record[i]``'s series was first seen at ``first[i]`` (``timestamp[us]``) and had
    ``events[i]`` events by the end of that minute. Flagged records without events are left
    out."""

    record: npt.NDArray[np.int64]
    first: pa.Array
    events: npt.NDArray[np.int64]


def record_evidence_of(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    influencers: tuple[str, ...],
    wanted: WantedColumns,
    cutoff: float,
) -> tuple[FirstColumns, ShareColumns]:
    """First events and influencer shares of many records of one detector, in one statement
    (what :func:`trailspike.features.evidence.record_evidence_columns` documents, with the
    records and the first events as columns)."""
    if not wanted.buckets:
        return _NO_FIRSTS, _NO_SHARES
    table = _wanted_table(request, wanted)
    bounds = pc.min_max(table["k_b"])["min"].as_py(), pc.min_max(table["k_until"])["max"].as_py()
    keyed = key_influencers(det, influencers)
    counted = [n for n in range(len(influencers)) if n not in keyed]
    columns = [f"i{n}" for n in counted]
    bucket, bparams = bucket_expr(request)
    sql = SqlBuilder().add(f"WITH rows AS (SELECT {bucket} AS k_b, ts,", bparams)
    add_split_columns(sql, det, ("k_p", "k_by", "k_over"), trailing_comma=bool(columns))
    for n in counted:
        expr, params = field_sql(influencers[n])
        sql.add(f"CAST({expr} AS VARCHAR) AS i{n}{',' if n != counted[-1] else ''}", params)
    where_clause(sql, request, det, *bounds)
    # The statement only joins the chunk's events to the records; cutting flagged records'
    # events and counting the shares are array steps on its rows (_counted): DuckDB's
    # aggregates over them were two thirds of the statement. Column and view names are this
    # module's own; nothing from the data enters the text.
    selected = "".join(f", {c}" for c in columns)
    sql.add(f") SELECT k_n, k_first, ts{selected} FROM rows JOIN {_WANTED} w")  # noqa: S608
    sql.add("USING (k_b, k_p, k_by, k_over) WHERE rows.ts < w.k_until")
    con.register(_WANTED, table)
    try:
        joined = con.sql(sql.text, params=sql.params).to_arrow_table()
    finally:
        con.unregister(_WANTED)
    head, present, firsts = _counted(joined, counted, len(wanted.buckets), cutoff)
    return firsts, _sorted_shares(head, influencers, _keyed_shares(present, keyed, table))


_MINUTE = 60_000_000  # microseconds


def _counted(
    joined: pa.Table, counted: list[int], records: int, cutoff: float
) -> tuple[pa.Table, npt.NDArray[np.int64], FirstColumns]:
    """From the records' joined events (``k_n, k_first, ts, i<n>...``): the shares of the
    ``counted`` influencers holding at least ``cutoff`` of their field's non-null events
    (``k_n, f, v, share``, unsorted), the records with events, and the flagged records'
    first events.

    A flagged record keeps its events before the end of the minute of its first one
    (``ts < date_trunc('minute', first) + INTERVAL 1 MINUTE``, in microseconds); a share is
    ``events / total`` in double precision, the division SQL did. Values are grouped by
    their dictionary codes with ``np.unique`` per field.
    """
    record = joined["k_n"].to_numpy().astype(np.int64)
    ts = joined["ts"].cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()  # (_MINUTE's unit)
    flagged_rows = np.flatnonzero(joined["k_first"].to_numpy(zero_copy_only=False))
    first = np.zeros(records, dtype=np.int64)
    flagged = np.zeros(records, dtype=bool)
    kept: npt.NDArray[np.bool_] | None = None
    if flagged_rows.size:
        owner = record[flagged_rows]
        first[owner] = np.iinfo(np.int64).max
        np.minimum.at(first, owner, ts[flagged_rows])
        flagged[owner] = True
        kept = np.ones(len(record), dtype=bool)
        kept[flagged_rows] = ts[flagged_rows] < first[owner] // _MINUTE * _MINUTE + _MINUTE
        record = record[kept]
    events = np.bincount(record, minlength=records)
    present = np.flatnonzero(events)
    starts = np.flatnonzero(flagged & (events > 0))
    firsts = FirstColumns(
        starts, pa.array(first[starts]).cast(pa.timestamp("us")), events[starts].astype(np.int64)
    )
    parts = [_field_shares(joined[f"i{n}"], kept, record, n, records, cutoff) for n in counted]
    if not parts:
        return _NO_HEAD, present, firsts
    return pa.concat_tables(parts), present, firsts


def _field_shares(
    column: pa.ChunkedArray,
    kept: npt.NDArray[np.bool_] | None,
    record: npt.NDArray[np.int64],
    field: int,
    records: int,
    cutoff: float,
) -> pa.Table:
    """One influencer's values with at least ``cutoff`` of the field's non-null events of
    their record (``record``: the kept rows' records)."""
    values = column.combine_chunks()
    if kept is not None:
        values = values.filter(pa.array(kept))
    encoded = values.dictionary_encode()
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    codes = encoded.indices.fill_null(0).to_numpy().astype(np.int64)[valid]
    owners = record[valid]
    width = max(len(encoded.dictionary), 1)
    groups, events = np.unique(owners * width + codes, return_counts=True)
    owner = groups // width
    totals = np.bincount(owners, minlength=records)
    share = events.astype(np.float64) / totals[owner].astype(np.float64)
    keep = share >= cutoff
    n = int(keep.sum())
    return pa.table(
        {
            "k_n": pa.array(owner[keep]),
            "f": pa.array(np.full(n, field, dtype=np.int64)),
            "v": encoded.dictionary.take(pa.array(groups[keep] % width)),
            "share": pa.array(share[keep]),
        }
    )


_NO_HEAD = pa.table(
    {
        "k_n": pa.array([], pa.int64()),
        "f": pa.array([], pa.int64()),
        "v": pa.array([], pa.string()),
        "share": pa.array([], pa.float64()),
    }
)


def key_influencers(det: DetectorFeature, influencers: tuple[str, ...]) -> dict[int, int]:
    """Influencers read as one of the detector's split fields: influencer index -> 0, 1 or 2
    (partition, by, over). Every event of a record has the record's key value there, so the
    field's one value is that, with all the field's events (share 1.0, exactly: ``n / n``);
    counting it in SQL was a quarter of the user job's statement. Not with ``use_null``,
    where a missing value and the empty string share a key.

    >>> det = DetectorFeature(0, "rare", None, "event.action", None, "user.name")
    >>> key_influencers(det, ("user.name", "source.ip", "event.action"))
    {0: 0, 2: 1}
    """
    if det.use_null:
        return {}
    reads = {field_sql(f)[0]: k for k, f in enumerate(det.split_fields()) if f is not None}
    out: dict[int, int] = {}
    for n, field in enumerate(influencers):
        expr, params = field_sql(field)
        if not params and expr in reads:
            out[n] = reads[expr]
    return out


def _keyed_shares(
    present: npt.NDArray[np.int64], keyed: dict[int, int], wanted: pa.Table
) -> pa.Table | None:
    """The keyed fields' shares (:func:`key_influencers`) of the records with events
    (``present``), as rows like the counted ones (``k_n, f, v, share``), or None."""
    if not keyed:
        return None
    parts = (wanted["k_p"], wanted["k_by"], wanted["k_over"])
    n = len(present)
    taken = pa.array(present, pa.int64())
    return pa.concat_tables(
        pa.table(
            {
                "k_n": taken,
                "f": pa.repeat(pa.scalar(field, pa.int64()), n),
                "v": parts[part].take(taken).combine_chunks(),
                "share": pa.repeat(pa.scalar(1.0), n),
            }
        )
        for field, part in keyed.items()
    )


_WANTED = "_ts_evidence_wanted"


def _wanted_table(request: FeatureRequest, wanted: WantedColumns) -> pa.Table:
    """The records as the Arrow table the query joins; ``k_until`` is the earlier of the
    bucket's end and the record's data end."""
    keys = wanted.keys
    buckets = pa.array(wanted.buckets, pa.timestamp("us"))
    ends = pc.add(buckets, pa.scalar(timedelta(seconds=request.bucket_span_seconds)))
    untils = pa.array(wanted.untils, pa.timestamp("us"))
    return pa.table(
        {
            "k_n": pa.array(np.arange(len(keys), dtype=np.int64)),
            "k_b": buckets,
            "k_p": pa.array([k[0] for k in keys], pa.string()),
            "k_by": pa.array([k[1] for k in keys], pa.string()),
            "k_over": pa.array([k[2] for k in keys], pa.string()),
            "k_until": pc.if_else(pc.is_null(untils), ends, pc.min_element_wise(ends, untils)),
            "k_first": pa.array(wanted.first, pa.bool_()),
        }
    )


def _name_ranks(names: tuple[str, ...]) -> list[int]:
    """Each name's place in sorted order (the ORDER BY key of field ``n`` is ``ranks[n]``).

    >>> _name_ranks(("user.name", "source.ip", "event.action"))
    [2, 1, 0]
    """
    ranks = [0] * len(names)
    for rank, n in enumerate(sorted(range(len(names)), key=lambda n: names[n])):
        ranks[n] = rank
    return ranks or [0]


_NO_SHARES = ShareColumns(
    np.zeros(0, np.int64), np.zeros(0, np.int64), pa.array([], pa.string()), np.zeros(0)
)
_NO_FIRSTS = FirstColumns(
    np.zeros(0, np.int64), pa.array([], pa.timestamp("us")), np.zeros(0, np.int64)
)


def _sorted_shares(
    head: pa.Table, influencers: tuple[str, ...], keyed: pa.Table | None = None
) -> ShareColumns:
    """The shares rows (``k_n, f, v, share``, with the keyed fields' if any) as columns,
    per record most influential first.

    The order is Python's for ``rare_influencers``: share, then field name (its rank among
    the names), then value (by code point, as ``str`` and Arrow's byte order of UTF-8
    compare). Sorted here in numpy: DuckDB's ORDER BY on the value text was a third of the
    query's CPU.
    """
    if keyed is not None:  # (the keyed fields' shares join the rows before the sort)
        head = pa.concat_tables([head, keyed], promote_options="permissive")
    record = head["k_n"].to_numpy().astype(np.int64)
    field = head["f"].to_numpy().astype(np.int64)
    value = head["v"].combine_chunks().cast(pa.string())
    share = head["share"].to_numpy().astype(np.float64)
    order = np.lexsort(
        (_text_ranks(value), np.array(_name_ranks(influencers))[field], -share, record)
    )
    take = pa.array(order)
    return ShareColumns(record[order], field[order], value.take(take), share[order])


def _text_ranks(texts: pa.Array) -> npt.NDArray[np.int64]:
    """Each text's rank in byte (code point) order; equal texts, equal ranks.

    >>> _text_ranks(pa.array(["b", "a", "é", "b", "z"])).tolist()
    [1, 0, 3, 1, 2]
    """
    encoded = texts.dictionary_encode()
    sorted_codes = pc.array_sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(sorted_codes), dtype=np.int64)
    rank[sorted_codes] = np.arange(len(sorted_codes))
    out: npt.NDArray[np.int64] = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    return out


def add_field_counts(
    sql: SqlBuilder, columns: list[str], source: str, fields: Sequence[int] | None = None
) -> None:
    """Events per (k_n, value) of each influencer column of ``source``, one UNION ALL branch
    per column, ``f`` its place in ``fields`` (default: in ``columns``). Column and CTE names
    are this module's own; nothing from the data enters."""
    numbers = range(len(columns)) if fields is None else fields
    for n, (f, column) in enumerate(zip(numbers, columns, strict=True)):
        sql.add("UNION ALL" if n else "").add(
            f"SELECT k_n, {f} AS f, {column} AS v, count(*) AS events"
        )
        sql.add(f"FROM {source} WHERE {column} IS NOT NULL GROUP BY k_n, {column}")
