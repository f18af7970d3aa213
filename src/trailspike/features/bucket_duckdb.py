"""Per-bucket feature rows computed in DuckDB SQL over the ``events`` table.

:func:`compute_features` runs one ``GROUP BY`` per detector over a time range and returns the
Arrow table of :mod:`trailspike.features.contract`; :func:`bucket_event_counts` gives each
bucket's ``event_count`` (events the datafeed selects). The SQL builder here (:class:`SqlBuilder`,
:func:`where_clause`, :func:`add_split_columns`) is shared with :mod:`.evidence`, which reads the
events behind anomalies (partial buckets, first events, influencer counts).

Implementation decisions: buckets come from ``time_bucket(span, ts, TIMESTAMP '1970-01-01')``
so they align to the Unix epoch like :func:`trailspike.core.timeutil.bucket_start`. SQL text is
built only from fixed fragments and whitelisted column names; every value (times, JSON paths,
filter values) is a bound parameter, in the order the fragments are joined.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from trailspike.features.contract import (
    FEATURE_SCHEMA,
    DetectorFeature,
    FeatureRequest,
    empty_features,
)
from trailspike.features.query import compile_where, field_sql

AGGREGATES = {
    "count": "count(*)",
    "rare": "count(*)",
    "distinct": "count(DISTINCT {f})",
    "mean": "avg(TRY_CAST({f} AS DOUBLE))",
    "sum": "sum(TRY_CAST({f} AS DOUBLE))",
    "min": "min(TRY_CAST({f} AS DOUBLE))",
    "max": "max(TRY_CAST({f} AS DOUBLE))",
}


class SqlBuilder:
    """SQL text and its bound parameters, built in step so their order always matches."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, params: list[Any] | None = None) -> SqlBuilder:
        self.parts.append(text)
        self.params += params or []
        return self

    @property
    def text(self) -> str:
        return " ".join(self.parts)


def split_expr(field: str | None, use_null: bool) -> tuple[str, list[Any]]:
    if field is None:
        return "''", []
    expr, params = field_sql(field)
    if use_null:
        return f"coalesce(CAST({expr} AS VARCHAR), '')", params
    return f"CAST({expr} AS VARCHAR)", params


def add_split_columns(
    sql: SqlBuilder,
    det: DetectorFeature,
    names: tuple[str, str, str] = ("partition", "by", "over"),
    trailing_comma: bool = True,
) -> None:
    """Select the detector's partition, by and over fields (the series key) as ``names``."""
    columns = list(zip(names, det.split_fields(), strict=True))
    for n, (name, field) in enumerate(columns):
        expr, params = split_expr(field, det.use_null)
        comma = "," if trailing_comma or n + 1 < len(columns) else ""
        sql.add(f"{expr} AS {name}{comma}", params)


def where_clause(
    sql: SqlBuilder,
    request: FeatureRequest,
    det: DetectorFeature | None,
    start: datetime,
    end: datetime,
) -> None:
    where, params = compile_where(request.where)
    sql.add("FROM events WHERE ts >= ? AND ts < ? AND", [start, end]).add(where, params)
    if det is None:
        return
    if det.field_name:
        expr, fparams = field_sql(det.field_name)
        sql.add(f"AND {expr} IS NOT NULL", fparams)
    if not det.use_null:
        for field in det.split_fields():
            if field:
                expr, fparams = field_sql(field)
                sql.add(f"AND {expr} IS NOT NULL", fparams)


def bucket_expr(request: FeatureRequest) -> tuple[str, list[Any]]:
    span = timedelta(seconds=request.bucket_span_seconds)
    return "time_bucket(?::INTERVAL, ts, TIMESTAMP '1970-01-01')", [span]


def detector_features(
    con: duckdb.DuckDBPyConnection,
    request: FeatureRequest,
    det: DetectorFeature,
    start: datetime,
    end: datetime,
) -> pa.Table:
    """Feature rows of one detector for buckets in ``[start, end)``."""
    sql = SqlBuilder()
    bucket, bparams = bucket_expr(request)
    sql.add("SELECT ?::VARCHAR AS job_id, ?::INTEGER AS detector_index,", [request.job_id])
    sql.params.append(det.detector_index)
    sql.add(f"{bucket} AS bucket_start,", bparams)
    add_split_columns(sql, det)
    template = AGGREGATES[det.spec.aggregate]
    if "{f}" in template and det.field_name:
        fexpr, fparams = field_sql(det.field_name)
        sql.add(f"CAST({template.format(f=fexpr)} AS DOUBLE) AS value", fparams)
    else:
        sql.add(f"CAST({template} AS DOUBLE) AS value")
    where_clause(sql, request, det, start, end)
    sql.add("GROUP BY ALL HAVING value IS NOT NULL ORDER BY 3, 4, 5, 6")
    table = con.sql(sql.text, params=sql.params).to_arrow_table()
    return table.cast(FEATURE_SCHEMA)


def compute_features(
    con: duckdb.DuckDBPyConnection, request: FeatureRequest, start: datetime, end: datetime
) -> pa.Table:
    """Feature rows of every detector of ``request`` for buckets in ``[start, end)``.

    ``start`` and ``end`` should be bucket boundaries; rows are sorted by detector, bucket and
    series key.

    >>> from trailspike.store.db import open_store
    >>> from trailspike.features.contract import DetectorFeature, FeatureRequest
    >>> con = open_store(":memory:")
    >>> _ = con.execute("INSERT INTO events (event_id, ts, error_message, doc, ingested_at) "
    ...     "VALUES ('a', '2026-01-01 10:01', 'm1', '{}', now()), "
    ...     "('b', '2026-01-01 10:02', 'm2', '{}', now()), "
    ...     "('c', '2026-01-01 10:20', 'm1', '{}', now())")
    >>> det = DetectorFeature(0, "distinct_count", "aws.cloudtrail.error_message")
    >>> req = FeatureRequest("j", 900, (det,))
    >>> t = compute_features(con, req, datetime(2026, 1, 1), datetime(2026, 1, 2))
    >>> [(r["bucket_start"].minute, r["value"]) for r in t.to_pylist()]
    [(0, 2.0), (15, 1.0)]
    """
    tables = [detector_features(con, request, det, start, end) for det in request.detectors]
    if not tables:
        return empty_features()
    return pa.concat_tables(tables)


def bucket_event_counts(
    con: duckdb.DuckDBPyConnection, request: FeatureRequest, start: datetime, end: datetime
) -> dict[datetime, int]:
    """Events the datafeed selects, per bucket start, for buckets in ``[start, end)``."""
    sql = SqlBuilder()
    bucket, bparams = bucket_expr(request)
    sql.add(f"SELECT {bucket} AS b, count(*)", bparams)
    where_clause(sql, request, None, start, end)
    sql.add("GROUP BY ALL")
    return {b: int(n) for b, n in con.execute(sql.text, sql.params).fetchall()}
