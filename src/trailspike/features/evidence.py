"""The events behind anomalies, in DuckDB SQL: partial buckets, first events, influencer counts.

What the job runner needs beyond the per-bucket feature rows of :mod:`.bucket_duckdb`:
:func:`early_features` and :func:`first_seen` (early results, :mod:`trailspike.jobs.early`),
:func:`record_evidence` (one query per flush: rare records' first events and every anomalous
record's influencer shares), :func:`bucket_slice` (the raw rows of one series in one bucket, for
influencer experiments on metrics and counts) and the influencer counting behind them.

Implementation decisions: the same rules as :mod:`.bucket_duckdb`, whose SQL builder this
module shares: SQL text only from fixed fragments and whitelisted column names, every value a
bound parameter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trailspike.core.timeutil import epoch_micros
from trailspike.features.bucket_duckdb import (
    AGGREGATES,
    SqlBuilder,
    add_split_columns,
    bucket_expr,
    held_chunk,
    split_expr,
    where_clause,
)
from trailspike.features.contract import FEATURE_SCHEMA, DetectorFeature, FeatureRequest
from trailspike.features.query import field_sql
from trailspike.features.record_evidence import (
    ShareColumns,
    WantedColumns,
    add_field_counts,
    record_evidence_of,
)
from trailspike.features.wording import detector_field_sql


def _slice_end(request: FeatureRequest, bucket_start: datetime, until: datetime | None) -> datetime:
    end = bucket_start + timedelta(seconds=request.bucket_span_seconds)
    return end if until is None else min(end, until)


def early_features(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> pa.Table:
    """Feature rows of one detector from the first part of each bucket in ``[start, end)``.

    For every bucket and every cut-off ``bucket + k * step`` inside it (``k >= 1``), the value
    over the events before the cut-off: the feature rows columns plus ``data_end`` (the
    cut-off). Events are joined to the cut-offs they precede in one statement, so a chunk of a
    day costs one scan whatever the number of cut-offs.

    >>> from trailspike.store.db import open_store
    >>> from trailspike.features.contract import DetectorFeature, FeatureRequest
    >>> con = open_store(":memory:")
    >>> _ = con.execute("INSERT INTO events (event_id, ts, error_message, doc, ingested_at) "
    ...     "VALUES ('a', '2026-01-01 10:01', 'm1', '{}', now()), "
    ...     "('b', '2026-01-01 10:20', 'm2', '{}', now()), "
    ...     "('c', '2026-01-01 10:50', 'm1', '{}', now())")
    >>> det = DetectorFeature(0, "high_distinct_count", "aws.cloudtrail.error_message")
    >>> req = FeatureRequest("j", 3600, (det,))
    >>> t = early_features(con, req, det, datetime(2026, 1, 1), datetime(2026, 1, 2),
    ...                    timedelta(minutes=15))
    >>> [(r["data_end"].minute, r["value"]) for r in t.to_pylist()]
    [(15, 1.0), (30, 2.0), (45, 2.0)]
    """
    span = request.bucket_span_seconds
    cuts = int(span // step.total_seconds())
    sql = SqlBuilder()
    bucket, bparams = bucket_expr(request)
    sql.add(f"WITH e AS (SELECT {bucket} AS b, ts,", bparams)
    add_split_columns(sql, det)
    fexpr, fparams = detector_field_sql(det)
    sql.add(f"{fexpr} AS f", fparams)
    where_clause(sql, request, det, start, end)
    sql.add(
        '), cut AS (SELECT b, b + k * ?::INTERVAL AS data_end, "partition", "by", "over", f '
        "FROM e JOIN range(1, ?) r(k) ON e.ts < e.b + k * ?::INTERVAL) "
        "SELECT ?::VARCHAR AS job_id, ?::INTEGER AS detector_index, b AS bucket_start, "
        '"partition", "by", "over",',
        [step, cuts, step, request.job_id, det.detector_index],
    )
    # The aggregate comes from the fixed AGGREGATES table; values are bound parameters.
    aggregate = AGGREGATES[det.spec.aggregate].format(f="f")
    sql.add(f"CAST({aggregate} AS DOUBLE) AS value, data_end FROM cut")
    sql.add("GROUP BY ALL HAVING value IS NOT NULL ORDER BY data_end, 3, 4, 5, 6")
    table = con.sql(sql.text, params=sql.params).to_arrow_table()
    columns = [table[name].cast(FEATURE_SCHEMA.field(name).type) for name in FEATURE_SCHEMA.names]
    return pa.table(
        [*columns, table["data_end"].cast(pa.timestamp("us"))],
        names=[*FEATURE_SCHEMA.names, "data_end"],
    )


def first_seen(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    start: datetime,
    end: datetime,
) -> dict[tuple[datetime, str, str, str], tuple[datetime, int]]:
    """When each series of a detector first had an event in each bucket of ``[start, end)``,
    and how many events it had by the end of that minute:
    ``(bucket start, partition, by, over) -> (first event time, events)``."""
    sql = SqlBuilder()
    bucket, bparams = bucket_expr(request)
    sql.add(f"WITH e AS (SELECT {bucket} AS b,", bparams)
    add_split_columns(sql, det)
    sql.add("ts")
    where_clause(sql, request, det, start, end)
    sql.add(
        '), f AS (SELECT *, min(ts) OVER (PARTITION BY b, "partition", "by", "over") AS first '
        'FROM e) SELECT b, "partition", "by", "over", first, '
        "count(*) FILTER (WHERE ts < date_trunc('minute', first) + INTERVAL 1 MINUTE) "
        "FROM f GROUP BY ALL"
    )
    rows = con.execute(sql.text, sql.params).fetchall()
    return {(b, p, by, o): (ts, int(n)) for b, p, by, o, ts, n in rows}


def first_seen_of(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    wanted: Sequence[tuple[datetime, tuple[str, str, str]]],
) -> dict[int, tuple[datetime, int]]:
    """:func:`first_seen` for some series only: ``wanted[n]`` = ``(bucket start, (partition,
    by, over))`` -> ``n: (first event time, events by the end of that minute)``; a series
    without events in its bucket is left out. One statement for any number of buckets, so the
    early records of a chunk's anomalous categories cost one scan instead of a Python dict of
    every series of every bucket.

    >>> from trailspike.store.db import open_store
    >>> con = open_store(":memory:")
    >>> _ = con.execute("INSERT INTO events (event_id, ts, event_action, user_name, doc, "
    ...     "ingested_at) VALUES ('a', '2026-01-01 10:01:10', 'Get', 'u1', '{}', now()), "
    ...     "('b', '2026-01-01 10:01:50', 'Get', 'u1', '{}', now()), "
    ...     "('c', '2026-01-01 10:20', 'Get', 'u1', '{}', now())")
    >>> det = DetectorFeature(0, "rare", by_field_name="event.action",
    ...                       partition_field_name="user.name")
    >>> req = FeatureRequest("j", 3600, (det,))
    >>> first_seen_of(con, req, det, [(datetime(2026, 1, 1, 10), ("u1", "Get", "")),
    ...                               (datetime(2026, 1, 1, 10), ("u2", "Get", ""))])
    {0: (datetime.datetime(2026, 1, 1, 10, 1, 10), 2)}
    """
    return record_evidence(con, request, det, (), [(b, k, None, True) for b, k in wanted], 1.0)[0]


Evidence = tuple[datetime, tuple[str, str, str], datetime | None, bool]
"""What :func:`record_evidence` looks at for one record: (bucket start, (partition, by, over),
until or None, whether to stop at the end of the minute of the series' first event)."""


def record_evidence(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    influencers: tuple[str, ...],
    wanted: Sequence[Evidence],
    cutoff: float,
) -> tuple[dict[int, tuple[datetime, int]], list[tuple[int, int, str, float]]]:
    """:func:`record_evidence_columns` with the shares as ``(n, influencer index, value,
    share)`` tuples."""
    firsts, shares = record_evidence_columns(con, request, det, influencers, wanted, cutoff)
    found = zip(
        shares.record.tolist(),
        shares.field.tolist(),
        shares.value.to_pylist(),
        shares.share.tolist(),
        strict=True,
    )
    return firsts, list(found)


def record_evidence_columns(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    influencers: tuple[str, ...],
    wanted: Sequence[Evidence],
    cutoff: float,
) -> tuple[dict[int, tuple[datetime, int]], ShareColumns]:
    """First events and influencer shares of many records of one detector, in one statement.

    ``wanted[n]`` selects the events of a series in a bucket before ``until`` (None: the
    bucket's end) or, when its flag is set, before the end of the minute of the series' first
    event in the bucket (an early record of a rare category, known from then). Returns, for
    the flagged ones, ``n: (first event time, events of that minute)`` (:func:`first_seen_of`;
    a series without events is left out) and, for all, ``(n, influencer index, value, share)``
    for the values holding at least ``cutoff`` of their field's events among those selected
    (:func:`influencer_shares`), per record most influential first: by share, then field
    name, then value. One scan serves a whole flush of final and early records. The shares
    stay columns (:class:`ShareColumns`): a flush has hundreds of thousands; the jobs pass
    the records as columns too (:func:`~trailspike.features.record_evidence.record_evidence_of`).
    """
    columns = WantedColumns(
        [b for b, *_ in wanted], [w[1] for w in wanted], [w[2] for w in wanted],
        [w[3] for w in wanted],
    )  # fmt: skip
    firsts, shares = record_evidence_of(con, request, det, influencers, columns, cutoff)
    times = firsts.first.to_pylist()
    counts = firsts.events.tolist()
    by_record = {n: (times[i], counts[i]) for i, n in enumerate(firsts.record.tolist())}
    return by_record, shares


SLICE_CACHE_MAX_ROWS = 200_000  # the spike job's chunks: ~11,000 errors a week on 8.6M events


def bucket_slice(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    bucket_start: datetime,
    influencers: tuple[str, ...],
    key: tuple[str, str, str] | None = None,
    until: datetime | None = None,
) -> pa.Table:
    """Raw rows of a detector in one bucket, optionally of one series only.

    Columns: ``x`` (the detector's field as text, or null when it has none), ``partition``,
    ``by`` and ``over`` (the series key, as in feature rows) and ``i0``, ``i1``, … holding each
    influencer field as text, in the order given. ``key`` = (partition, by, over) keeps only
    that series. ``until`` keeps only events before it (an early result's partial bucket).

    While :func:`~trailspike.features.bucket_duckdb.chunk_events` holds a chunk of at most
    :data:`SLICE_CACHE_MAX_ROWS` rows, the rows of the whole chunk are read once and each
    bucket's are cut from them: a statement per bucket cost ~3 ms, most of the spike job's time
    on a real trail (128 calls, 0.4 of 1.6 s). A larger chunk (a job over every event) is cut
    by a statement per bucket, so that its few anomalous buckets do not copy it whole again.
    """
    end = _slice_end(request, bucket_start, until)
    held = held_chunk(request, bucket_start, end)
    if held is not None and key is None and held.rows <= SLICE_CACHE_MAX_ROWS:
        cache_key = ("bucket_slice", det.detector_index, influencers)
        if cache_key not in held.cache:
            held.cache[cache_key] = _TimedRows.read(
                con, request, det, held.start, held.end, influencers
            )
        return cast("_TimedRows", held.cache[cache_key]).between(bucket_start, end)
    sql = _slice_sql(request, det, bucket_start, end, influencers)
    for split, value in zip(det.split_fields(), key or ("", "", ""), strict=True):
        if split is not None and key is not None:
            expr, params = split_expr(split, det.use_null)
            sql.add(f"AND {expr} = ?", [*params, value])
    return con.sql(sql.text, params=sql.params).to_arrow_table()


def _slice_sql(
    request: FeatureRequest,
    det: DetectorFeature,
    start: datetime,
    end: datetime,
    influencers: tuple[str, ...],
    with_time: bool = False,
) -> SqlBuilder:
    sql = SqlBuilder()
    fexpr, fparams = detector_field_sql(det)
    sql.add(f"SELECT CAST({fexpr} AS VARCHAR) AS x", fparams)
    sql.add(",")
    add_split_columns(sql, det, trailing_comma=False)
    for n, field in enumerate(influencers):
        expr, params = field_sql(field)
        sql.add(f", CAST({expr} AS VARCHAR) AS i{n}", params)
    if with_time:
        sql.add(", epoch_us(ts) AS _us")
    where_clause(sql, request, det, start, end)
    return sql


@dataclass(frozen=True)
class _TimedRows:
    """A detector's slice rows of a whole chunk, in the order a per-bucket statement returns
    them (the chunk copy's), with their times sorted for cutting out one bucket."""

    table: pa.Table
    order: npt.NDArray[np.int64]  # row numbers by time (stable)
    times: npt.NDArray[np.int64]  # the rows' microseconds, in that order

    @classmethod
    def read(
        cls,
        con: duckdb.DuckDBPyConnection,
        request: FeatureRequest,
        det: DetectorFeature,
        start: datetime,
        end: datetime,
        influencers: tuple[str, ...],
    ) -> _TimedRows:
        sql = _slice_sql(request, det, start, end, influencers, with_time=True)
        table = con.sql(sql.text, params=sql.params).to_arrow_table()
        micros = table.column("_us").to_numpy()
        order = np.argsort(micros, kind="stable")
        # One chunk per column: a take from a chunked table cost 36 times as much (50 chunks of
        # 1,000 rows: 402 against 11 us a take).
        return cls(table.drop_columns(["_us"]).combine_chunks(), order, micros[order])

    def between(self, start: datetime, end: datetime) -> pa.Table:
        """The rows in ``[start, end)``, in the chunk's order."""
        lo, hi = np.searchsorted(self.times, [epoch_micros(start), epoch_micros(end)])
        return self.table.take(np.sort(self.order[lo:hi]))


def bucket_influencer_counts(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    bucket_start: datetime,
    influencers: tuple[str, ...],
    keys: list[tuple[str, str, str]],
    until: datetime | Sequence[datetime] | None = None,
) -> list[tuple[str, str, str, int, str, int]]:
    """Events per influencer value for some series of one bucket.

    Returns ``(partition, by, over, influencer index, value, events)`` for the series in
    ``keys`` (a ``rare`` detector's anomalous categories, say); null values are left out.
    ``until`` keeps only events before it: one time for all keys, or one per key (early
    results). One bucket's case of :func:`influencer_counts`.
    """
    if not keys or not influencers:
        return []
    if until is None or isinstance(until, datetime):
        untils: list[datetime | None] = [until] * len(keys)
    else:
        untils = list(until)
    wanted = [(bucket_start, key, end) for key, end in zip(keys, untils, strict=True)]
    counted: Counter[tuple[str, str, str, int, str]] = Counter()
    for n, field, value, events in influencer_counts(con, request, det, influencers, wanted):
        counted[(*keys[n], field, value)] += events
    return [(*key, n) for key, n in counted.items()]


def influencer_counts(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    influencers: tuple[str, ...],
    wanted: Sequence[tuple[datetime, tuple[str, str, str], datetime | None]],
) -> list[tuple[int, int, str, int]]:
    """Events per influencer value for many (bucket, series, data end) of one detector at once.

    ``wanted[n]`` = ``(bucket start, (partition, by, over), until)``: the series' events in
    that bucket before ``until`` (None: the whole bucket). Returns ``(n, influencer index,
    value, events)``; null values are left out. One statement for any number of buckets: the
    events of the covered range are semi-joined to the wanted series and counted in SQL, so
    the ``rare`` jobs' thousands of anomalous categories a day cost one scan, not one query per
    bucket.

    >>> from trailspike.store.db import open_store
    >>> con = open_store(":memory:")
    >>> _ = con.execute("INSERT INTO events (event_id, ts, event_action, user_name, source_ip, "
    ...     "doc, ingested_at) VALUES ('a', '2026-01-01 10:01', 'Get', 'u1', '1.1.1.1', '{}', "
    ...     "now()), ('b', '2026-01-01 10:20', 'Get', 'u1', '2.2.2.2', '{}', now())")
    >>> det = DetectorFeature(0, "rare", by_field_name="event.action",
    ...                       partition_field_name="user.name")
    >>> req = FeatureRequest("j", 3600, (det,))
    >>> key = ("u1", "Get", "")
    >>> sorted(influencer_counts(con, req, det, ("source.ip",), [
    ...     (datetime(2026, 1, 1, 10), key, None),
    ...     (datetime(2026, 1, 1, 10), key, datetime(2026, 1, 1, 10, 2))]))
    [(0, 0, '1.1.1.1', 1), (0, 0, '2.2.2.2', 1), (1, 0, '1.1.1.1', 1)]
    """
    if not wanted or not influencers:
        return []
    sql = _influencer_counts_sql(request, det, influencers, wanted)
    rows = con.execute(sql.text, sql.params).fetchall()
    return [(int(n), int(f), str(v), int(e)) for n, f, v, e in rows]


def influencer_shares(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    influencers: tuple[str, ...],
    wanted: Sequence[tuple[datetime, tuple[str, str, str], datetime | None]],
    cutoff: float,
) -> list[tuple[int, int, str, float]]:
    """The influencer values holding at least ``cutoff`` of their field's events, per wanted
    series (as :func:`influencer_counts`): ``(n, influencer index, value, share)``.

    A ``rare`` record's influence per value is this share; filtering in SQL leaves Python the
    few values that qualify (at most two per field at ml-cpp's 0.4) instead of every count.
    The share is ``events / total`` in double precision, the division Python would do.
    """
    if not influencers:
        return []
    evidence = [(b, k, until, False) for b, k, until in wanted]
    return record_evidence(con, request, det, influencers, evidence, cutoff)[1]


def _influencer_counts_sql(
    request: FeatureRequest,
    det: DetectorFeature,
    influencers: tuple[str, ...],
    wanted: Sequence[tuple[datetime, tuple[str, str, str], datetime | None]],
) -> SqlBuilder:
    """The statement of :func:`influencer_counts` (columns ``k_n, f, v, events``)."""
    span = timedelta(seconds=request.bucket_span_seconds)
    ends = [b + span if end is None else min(b + span, end) for b, _, end in wanted]
    bucket, bparams = bucket_expr(request)
    sql = SqlBuilder().add(f"WITH rows AS (SELECT {bucket} AS k_b, ts,", bparams)
    add_split_columns(sql, det, ("k_p", "k_by", "k_over"))
    columns = [f"i{n}" for n in range(len(influencers))]
    for n, field in enumerate(influencers):
        expr, params = field_sql(field)
        sql.add(f"CAST({expr} AS VARCHAR) AS i{n}{',' if n + 1 < len(influencers) else ''}", params)
    where_clause(sql, request, det, min(b for b, _, _ in wanted), max(ends))
    sql.add(
        "), wanted AS (SELECT unnest(?::BIGINT[]) AS k_n, unnest(?::TIMESTAMP[]) AS k_b, "
        "unnest(?::VARCHAR[]) AS k_p, unnest(?::VARCHAR[]) AS k_by, "
        "unnest(?::VARCHAR[]) AS k_over, unnest(?::TIMESTAMP[]) AS k_until), "
        "joined AS MATERIALIZED (SELECT k_n,",
        [
            list(range(len(wanted))),
            [b for b, _, _ in wanted],
            [k[0] for _, k, _ in wanted],
            [k[1] for _, k, _ in wanted],
            [k[2] for _, k, _ in wanted],
            ends,
        ],
    )
    sql.add(", ".join(columns)).add(
        "FROM rows JOIN wanted USING (k_b, k_p, k_by, k_over) WHERE rows.ts < wanted.k_until)"
    )
    # Column names come from range(len(influencers)) and the other SQL from the whitelisted
    # fields; nothing from the data enters the text (every value is a bound parameter).
    add_field_counts(sql, columns, "joined")
    return sql
