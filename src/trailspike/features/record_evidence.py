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
bound parameter (the records' keys are an Arrow table joined by the query).
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
    # A flagged record's events are cut at the end of the minute of its series' first event;
    # shares divide by per-record totals joined back (aggregates and joins: DuckDB's windows
    # cost twice as much here). Column and view names are this module's own; nothing from
    # the data enters the text.
    selected = "".join(f", {c}" for c in columns)
    sql.add(f"), joined AS MATERIALIZED (SELECT k_n, k_first, ts{selected}")
    sql.add(f"FROM rows JOIN {_WANTED} w")
    sql.add(
        "USING (k_b, k_p, k_by, k_over) WHERE rows.ts < w.k_until), "
        "firsts AS (SELECT k_n, min(ts) AS first FROM joined WHERE k_first GROUP BY k_n), "
        "kept AS MATERIALIZED (SELECT * FROM joined LEFT JOIN firsts USING (k_n) "
        "WHERE NOT k_first OR ts < date_trunc('minute', first) + INTERVAL 1 MINUTE), "
    )
    # One aggregate per record serves the shares' totals, the records with events and the
    # first events (a flagged record's kept rows are its events by the end of that minute):
    # three passes over the kept rows were one each. A field's total is its non-null events.
    totals = "".join(f", count(i{n}) AS t{n}" for n in counted)
    sql.add("totals AS MATERIALIZED (SELECT k_n, count(*) AS n, min(first) AS first,")
    sql.add(f"bool_or(k_first) AS flagged{totals} FROM kept GROUP BY k_n)")
    if columns:
        sql.add(", counts AS MATERIALIZED (")
        add_field_counts(sql, columns, "kept", counted)
        total = " ".join(f"WHEN {n} THEN t{n}" for n in counted)
        sql.add("), shared AS (SELECT k_n, f, v, CAST(events AS DOUBLE) / CAST(CASE f")
        sql.add(total).add(
            "END AS DOUBLE) AS share FROM counts JOIN totals USING (k_n)) "
            "SELECT k_n, f, v, share, NULL::TIMESTAMP AS first, NULL::BIGINT AS events "
            "FROM shared WHERE share >= ? UNION ALL",
            [cutoff],
        )
    if keyed:
        # Records with events: each has its key's value as every keyed field's one value.
        sql.add(
            "SELECT k_n, -2 AS f, NULL::VARCHAR AS v, NULL::DOUBLE AS share, "
            "NULL::TIMESTAMP AS first, NULL::BIGINT AS events FROM totals UNION ALL"
        )
    sql.add(
        "SELECT k_n, -1 AS f, NULL::VARCHAR AS v, NULL::DOUBLE AS share, first, "
        "n AS events FROM totals WHERE flagged"
    )
    con.register(_WANTED, table)
    try:
        result = con.sql(sql.text, params=sql.params).to_arrow_table()
    finally:
        con.unregister(_WANTED)
    return _split_result(result, influencers, _keyed_shares(result, keyed, table))


_FIRST = -1  # the f of a record's first-event row (the statement's literal)
_WITH_EVENTS = -2  # the f of a row saying a record has events, for its keyed fields (the same)


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


def _keyed_shares(result: pa.Table, keyed: dict[int, int], wanted: pa.Table) -> pa.Table | None:
    """The keyed fields' shares (:func:`key_influencers`) of the records with events, as rows
    like the statement's (``k_n, f, v, share``), or None."""
    if not keyed:
        return None
    present = result.filter(pc.equal(result["f"], _WITH_EVENTS))["k_n"].combine_chunks()
    parts = (wanted["k_p"], wanted["k_by"], wanted["k_over"])
    n = len(present)
    return pa.concat_tables(
        pa.table(
            {
                "k_n": present.cast(pa.int64()),
                "f": pa.repeat(pa.scalar(field, pa.int64()), n),
                "v": parts[part].take(present).combine_chunks(),
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


def _split_result(
    result: pa.Table, influencers: tuple[str, ...], keyed: pa.Table | None = None
) -> tuple[FirstColumns, ShareColumns]:
    """The shares rows as columns, per record most influential first, and the first events
    by record (the rows with ``f < 0``).

    The order is Python's for ``rare_influencers``: share, then field name (its rank among
    the names), then value (by code point, as ``str`` and Arrow's byte order of UTF-8
    compare). Sorted here in numpy: DuckDB's ORDER BY on the value text was a third of the
    query's CPU.
    """
    head = result.filter(pc.greater_equal(result["f"], 0)).select(["k_n", "f", "v", "share"])
    tail = result.filter(pc.equal(result["f"], _FIRST))
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
    found = ShareColumns(record[order], field[order], value.take(take), share[order])
    first_record = tail["k_n"].to_numpy().astype(np.int64)
    by_record = np.argsort(first_record, kind="stable")
    firsts = FirstColumns(
        first_record[by_record],
        tail["first"].combine_chunks().cast(pa.timestamp("us")).take(pa.array(by_record)),
        tail["events"].to_numpy().astype(np.int64)[by_record],
    )
    return firsts, found


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
