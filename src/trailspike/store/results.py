"""Read and write anomaly-detection results: buckets, records, influencers, model plot, job state.

The tables are those of ``0002_results.sql`` (plus ``0020`` which adds ``score_confidence``).
Writers take lists of plain dicts keyed by column name, or (:func:`write_record_columns`) columns
as lists or Arrow arrays, and insert them through Arrow in one statement per table; every writer
is idempotent (``INSERT OR REPLACE`` on the primary key), so re-running a bucket that was already
stored replaces it instead of doubling it. :func:`batched_checkpoints` holds DuckDB's automatic
checkpoints back while jobs write.

Implementation decisions: ``record_id`` is deterministic, ``{job_id}_record_{bucket start in
ms}_{span}_{detector}_{hash of partition, by, over}`` (Elastic's id shape), so the same anomaly
always has the same id: alerts built on it are never raised twice. Callers own transactions:
the runner wraps one chunk of buckets, its results and its model state in one transaction, so a
killed run leaves either all of a chunk or none of it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from trailspike.core.timeutil import utcnow

_EPOCH = datetime(1970, 1, 1)
BATCHED_CHECKPOINT = "64MiB"  # DuckDB's checkpoint_threshold in batched_checkpoints
DIRECT_APPEND_ROWS = 1_000  # inserts from this many rows on append directly (_insert_columns)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

BUCKET_COLUMNS = (
    "job_id",
    "timestamp",
    "bucket_span",
    "anomaly_score",
    "initial_anomaly_score",
    "event_count",
    "is_interim",
)
RECORD_COLUMNS = (
    "record_id",
    "job_id",
    "timestamp",
    "bucket_span",
    "detector_index",
    "function",
    "function_description",
    "field_name",
    "by_field_name",
    "by_field_value",
    "over_field_name",
    "over_field_value",
    "partition_field_name",
    "partition_field_value",
    "probability",
    "record_score",
    "initial_record_score",
    "typical",
    "actual",
    "multi_bucket_impact",
    "influencers",
    "explanation",
    "is_interim",
    "created_at",
    "score_confidence",
)
INFLUENCER_COLUMNS = (
    "job_id",
    "timestamp",
    "bucket_span",
    "influencer_field_name",
    "influencer_field_value",
    "influencer_score",
    "initial_influencer_score",
    "probability",
    "is_interim",
    "score_confidence",
)
MODEL_PLOT_COLUMNS = (
    "job_id",
    "timestamp",
    "detector_index",
    "partition_field_value",
    "by_field_value",
    "model_lower",
    "model_median",
    "model_upper",
    "actual",
)
EARLY_RECORD_COLUMNS = (*RECORD_COLUMNS, "data_end")
_TABLES = {
    "buckets": BUCKET_COLUMNS,
    "records": RECORD_COLUMNS,
    "early_records": EARLY_RECORD_COLUMNS,
    "influencers": INFLUENCER_COLUMNS,
    "model_plot": MODEL_PLOT_COLUMNS,
}


DIGEST_LENGTH = 16  # hex digits of the series hash at the end of a record id


def series_digest(partition: str = "", by: str = "", over: str = "") -> str:
    """The hash of a series key that ends its records' ids.

    >>> series_digest("u1", "GetObject")
    'b7a21c8820c950e4'
    """
    digest = hashlib.sha256("\x00".join((partition, by, over)).encode()).hexdigest()
    return digest[:DIGEST_LENGTH]


def record_id(
    job_id: str,
    timestamp: datetime,
    bucket_span: int,
    detector_index: int,
    partition: str = "",
    by: str = "",
    over: str = "",
) -> str:
    """The deterministic id of an anomaly record.

    >>> record_id("j", datetime(2026, 1, 1), 900, 0)
    'j_record_1767225600000_900_0_...'
    """
    ms = int((timestamp - _EPOCH).total_seconds() * 1000)
    digest = series_digest(partition, by, over)
    return f"{job_id}_record_{ms}_{bucket_span}_{detector_index}_{digest}"


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: Sequence[dict[str, Any]],
    defaults: dict[str, Any] | None = None,
) -> int:
    """Insert dict rows; ``defaults`` gives a column's value where a row has none (read per
    column: copying every row into a dict with the defaults cost twice as much)."""
    if not rows:
        return 0
    defaults = defaults or {}
    columns = {c: [row.get(c, defaults.get(c)) for row in rows] for c in _TABLES[table]}
    return _insert_columns(con, table, columns, len(rows))


def _insert_columns(
    con: duckdb.DuckDBPyConnection, table: str, columns: Mapping[str, Any], n: int
) -> int:
    """Insert ``n`` rows given as columns, lists or Arrow arrays (a column left out is null)."""
    if n == 0:
        return 0
    data = pa.table({c: columns[c] if c in columns else pa.nulls(n) for c in _TABLES[table]})
    view = f"_ts_insert_{table}"
    verb = "INSERT OR REPLACE" if _may_conflict(con, table, data) else "INSERT"
    # DuckDB plans a plain INSERT from Arrow as a batch insert (rows collected per batch, then
    # merged into the transaction's storage); with RETURNING it appends them directly: the
    # user job's result inserts (~9,000 rows a day) 0.84 -> 0.68 CPU s, commits unchanged.
    # Small inserts are a little cheaper without (1.7 against 1.85 ms for 18 rows).
    direct = verb == "INSERT" and n >= DIRECT_APPEND_ROWS
    con.register(view, data)
    try:
        # Table and view names come from the fixed _TABLES whitelist above.
        sql = f"{verb} INTO {table} BY NAME SELECT * FROM {view}"  # noqa: S608
        if direct:
            con.execute(sql + " RETURNING NULL").fetchall()
        else:
            con.execute(sql)
    finally:
        con.unregister(view)
    return n


@dataclass(frozen=True)
class _Appending:
    con: duckdb.DuckDBPyConnection
    job_id: str
    since: datetime


_APPENDING: ContextVar[_Appending | None] = ContextVar("appending", default=None)


@contextmanager
def appending(con: duckdb.DuckDBPyConnection, job_id: str, since: datetime) -> Iterator[None]:
    """Writes of ``job_id``'s rows from ``since`` on, each row once, inside the body (a job run
    over new buckets): if the job has no result from ``since`` on now, they are plain
    ``INSERT`` without asking :func:`_may_conflict` per table and flush (0.4 ms each, 408
    times for the benchmark's five jobs)."""
    stored = con.execute(
        " UNION ALL ".join(
            f"(SELECT 1 FROM {t} WHERE job_id = ? AND timestamp >= ? LIMIT 1)"  # noqa: S608
            for t in _RESULT_TABLES  # fixed names
        ),
        [job_id, since] * len(_RESULT_TABLES),
    ).fetchall()
    token = _APPENDING.set(None if stored else _Appending(con, job_id, since))
    try:
        yield
    finally:
        _APPENDING.reset(token)


_RESULT_TABLES = ("buckets", "records", "early_records", "influencers", "model_plot")


def _may_conflict(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> bool:
    """Whether ``table`` holds any row of these jobs in the rows' time range (never inside
    :func:`appending` for rows of its job from its time on).

    Every key of the result tables includes (or, for ``record_id``, is derived from) the job
    and the bucket time, so without such a row none of the new rows can replace one, and a
    plain ``INSERT`` does what ``INSERT OR REPLACE`` would at a fifth of the cost (measured on
    the city job: 0.98 -> 0.23 CPU s for its 21 days). A history run writes time ranges not
    stored yet; a re-run, or the early records of a bucket scored while it was open, takes
    the replacing path.
    """
    jobs = sorted(str(j) for j in data["job_id"].unique().to_pylist())
    stamps = pc.min_max(data["timestamp"])
    bounds = [stamps["min"].as_py(), stamps["max"].as_py()]
    fresh = _APPENDING.get()
    if fresh and fresh.con is con and jobs == [fresh.job_id] and bounds[0] >= fresh.since:
        return False
    # The table name comes from the fixed _TABLES whitelist; values are bound parameters.
    if len(jobs) == 1:
        # The jobs' case: one job per write. Equality plans and runs in 0.4 ms where the
        # list's unnest took 1.0 ms (the check is made per table and flush: 408 times in the
        # benchmark's five jobs).
        sql = f"SELECT 1 FROM {table} WHERE job_id = ? "  # noqa: S608
        params: list[Any] = [jobs[0], *bounds]
    else:
        sql = f"SELECT 1 FROM {table} WHERE job_id IN (SELECT unnest(?::VARCHAR[])) "  # noqa: S608
        params = [jobs, *bounds]
    found = con.execute(sql + "AND timestamp BETWEEN ? AND ? LIMIT 1", params).fetchall()
    return bool(found)


def write_record_columns(
    con: duckdb.DuckDBPyConnection, columns: Mapping[str, Any], *, early: bool = False
) -> int:
    """:func:`write_records` (``early``: :func:`write_early_records`) for rows given as columns,
    lists or Arrow arrays (``record_id`` must be one), which the jobs build without a dict per
    row."""
    n = len(columns["record_id"])
    table = "early_records" if early else "records"
    extra = {
        "is_interim": pa.repeat(pa.scalar(early), n),
        "created_at": pa.repeat(pa.scalar(utcnow(), pa.timestamp("us")), n),
    }
    return _insert_columns(con, table, {**extra, **columns}, n)


def write_buckets(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or replace bucket results; returns how many rows were written."""
    return _insert(con, "buckets", rows, {"is_interim": False})


def write_records(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or replace record results (``created_at`` defaults to now)."""
    return _insert(con, "records", rows, {"is_interim": False, "created_at": utcnow()})


def write_early_records(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or replace early records (keyed by ``record_id`` and ``data_end``)."""
    return _insert(con, "early_records", rows, {"is_interim": True, "created_at": utcnow()})


def write_influencers(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or replace influencer results."""
    return _insert(con, "influencers", rows, {"is_interim": False})


def write_influencer_columns(con: duckdb.DuckDBPyConnection, columns: pa.Table) -> int:
    """:func:`write_influencers` for rows given as an Arrow table (``is_interim`` included),
    which the jobs build without a dict per row."""
    return _insert_columns(
        con, "influencers", {c: columns[c] for c in columns.column_names}, columns.num_rows
    )


def write_model_plot(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or replace model bounds (one row per series per bucket)."""
    return _insert(con, "model_plot", rows)


_JOB_STATE_SCHEMA = pa.schema(
    [
        ("job_id", pa.string()),
        ("job_revision", pa.string()),
        ("last_bucket_end", pa.timestamp("us")),
        ("state", pa.binary()),
        ("memory_bytes", pa.int64()),
        ("updated_at", pa.timestamp("us")),
    ]
)


@dataclass(frozen=True)
class JobState:
    """A job's persisted progress and model state."""

    job_id: str
    job_revision: str | None
    last_bucket_end: datetime | None
    state: bytes | None
    memory_bytes: int | None
    updated_at: datetime


def load_job_state(con: duckdb.DuckDBPyConnection, job_id: str) -> JobState | None:
    """The stored state of ``job_id``, or None if it never ran."""
    rows = con.execute(
        "SELECT job_id, job_revision, last_bucket_end, state, memory_bytes, updated_at "
        "FROM job_state WHERE job_id = ?",
        [job_id],
    ).fetchall()
    if not rows:
        return None
    row = rows[0]
    return JobState(row[0], row[1], row[2], bytes(row[3]) if row[3] is not None else None, *row[4:])


def save_job_state(
    con: duckdb.DuckDBPyConnection,
    job_id: str,
    revision: str,
    last_bucket_end: datetime,
    state: bytes,
    memory_bytes: int,
) -> None:
    """Insert or replace the state row of ``job_id``.

    The row goes in as a one-row Arrow table, not as bound parameters: with the model blob
    (0.3 MB for the user job) as a parameter the statement took 9-12 ms, from Arrow 3.5 ms
    (a runner saves the state once per chunk, 21 times per job over the benchmark's history).
    A stored row is updated in place (2.2 ms, ``INSERT OR REPLACE`` 3.1-4.3 ms); the first
    one is inserted.
    """
    row = pa.Table.from_pydict(
        {
            "job_id": [job_id],
            "job_revision": [revision],
            "last_bucket_end": [last_bucket_end],
            "state": [state],
            "memory_bytes": [memory_bytes],
            "updated_at": [utcnow()],
        },
        schema=_JOB_STATE_SCHEMA,
    )
    con.register("_ts_job_state", row)
    try:
        updated = con.execute(
            "UPDATE job_state SET job_revision = s.job_revision, "
            "last_bucket_end = s.last_bucket_end, state = s.state, "
            "memory_bytes = s.memory_bytes, updated_at = s.updated_at "
            "FROM _ts_job_state s WHERE job_state.job_id = s.job_id"
        ).fetchall()
        if not updated or not updated[0][0]:
            con.execute("INSERT INTO job_state BY NAME SELECT * FROM _ts_job_state")
    finally:
        con.unregister("_ts_job_state")


def delete_job_results(con: duckdb.DuckDBPyConnection, job_id: str) -> None:
    """Forget a job: its results, model plot and state (for ``jobs reset``)."""
    for table in ("records", "early_records", "influencers", "buckets", "model_plot", "job_state"):
        # Table names come from this fixed tuple.
        con.execute(f"DELETE FROM {table} WHERE job_id = ?", [job_id])  # noqa: S608


def scored_in_window(
    con: duckdb.DuckDBPyConnection, job_id: str, start: datetime, end: datetime
) -> tuple[list[tuple[str, float, float]], list[tuple[datetime, str, str, float, float]]]:
    """Records ``(record_id, probability, confidence)`` and influencers ``(timestamp, field,
    value, probability, confidence)`` of a job with ``start <= timestamp < end``."""
    records = con.execute(
        "SELECT record_id, probability, coalesce(score_confidence, 1.0) FROM records "
        "WHERE job_id = ? AND timestamp >= ? AND timestamp < ?",
        [job_id, start, end],
    ).fetchall()
    influencers = con.execute(
        "SELECT timestamp, influencer_field_name, influencer_field_value, probability, "
        "coalesce(score_confidence, 1.0) FROM influencers "
        "WHERE job_id = ? AND timestamp >= ? AND timestamp < ?",
        [job_id, start, end],
    ).fetchall()
    return records, influencers


def update_scores(
    con: duckdb.DuckDBPyConnection,
    job_id: str,
    record_scores: Sequence[tuple[str, float]],
    influencer_scores: Sequence[tuple[datetime, str, str, float]],
    start: datetime,
    end: datetime,
) -> None:
    """Set renormalised ``record_score``/``influencer_score`` values, then refresh the
    ``anomaly_score`` of the buckets in ``[start, end)`` as the max record score."""
    records = influencers = None
    if record_scores:
        ids, scores = zip(*record_scores, strict=True)
        records = pa.table({"record_id": list(ids), "score": list(scores)})
    if influencer_scores:
        stamps, names, values, scores = zip(*influencer_scores, strict=True)
        influencers = pa.table(
            {"timestamp": stamps, "name": names, "value": values, "score": list(scores)}
        )
    set_scores(con, job_id, records, influencers, start, end)


def set_scores(
    con: duckdb.DuckDBPyConnection,
    job_id: str,
    records: pa.Table | None,
    influencers: pa.Table | None,
    start: datetime,
    end: datetime,
) -> None:
    """:func:`update_scores` of the rows in Arrow tables: ``record_id, score`` and
    ``timestamp, name, value, score`` (None: no row of that table)."""
    if records is not None:
        con.register("_ts_scores", records)
        try:
            con.execute(
                "UPDATE records SET record_score = s.score FROM _ts_scores s "
                "WHERE records.record_id = s.record_id"
            )
        finally:
            con.unregister("_ts_scores")
    if influencers is not None:
        con.register("_ts_inf_scores", influencers)
        try:
            con.execute(
                "UPDATE influencers SET influencer_score = s.score FROM _ts_inf_scores s "
                "WHERE influencers.job_id = ? AND influencers.timestamp = s.timestamp "
                "AND influencers.influencer_field_name = s.name "
                "AND influencers.influencer_field_value = s.value",
                [job_id],
            )
        finally:
            con.unregister("_ts_inf_scores")
    con.execute(
        "UPDATE buckets SET anomaly_score = coalesce(m.score, 0) FROM ("
        " SELECT b.timestamp AS ts, max(r.record_score) AS score FROM buckets b"
        " LEFT JOIN records r ON r.job_id = b.job_id AND r.timestamp = b.timestamp"
        " WHERE b.job_id = ? AND b.timestamp >= ? AND b.timestamp < ? GROUP BY b.timestamp"
        ") m WHERE buckets.job_id = ? AND buckets.timestamp = m.ts",
        [job_id, start, end, job_id],
    )


def query_records(
    con: duckdb.DuckDBPyConnection,
    job_id: str | None = None,
    min_score: float = 0.0,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Anomaly records, highest ``record_score`` first, as dicts keyed by column name."""
    sql = "SELECT * FROM records WHERE record_score >= ?"
    params: list[Any] = [min_score]
    if job_id is not None:
        sql += " AND job_id = ?"
        params.append(job_id)
    if since is not None:
        sql += " AND timestamp >= ?"
        params.append(since)
    if until is not None:
        sql += " AND timestamp < ?"
        params.append(until)
    sql += " ORDER BY record_score DESC, timestamp DESC, record_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def size_bytes(text: str) -> int:
    """Bytes in a size as DuckDB prints it (``current_setting('checkpoint_threshold')``).

    >>> size_bytes("16.0 MiB"), size_bytes("256MiB"), size_bytes("1.5 KiB"), size_bytes("0 bytes")
    (16777216, 268435456, 1536, 0)
    """
    found = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)i?B?(?:ytes?)?\s*", text, re.IGNORECASE)
    if found is None:
        raise ValueError(f"not a size: {text!r}")
    return int(float(found.group(1)) * _UNITS[found.group(2).upper()])


def _database_file(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return str(rows[0][0]) if rows and rows[0][0] else None


@contextmanager
def batched_checkpoints(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the body with DuckDB's checkpoint threshold raised to :data:`BATCHED_CHECKPOINT`;
    then restore it and, if the WAL outgrew it, checkpoint once.

    Every commit still reaches the WAL, so nothing is less durable; but a checkpoint rewrites
    the result tables' indexes whole, and a history run of the user job crossed the default
    16 MiB seven times, its checkpoints growing with the tables (1.6 of 13 CPU s). At 64 MiB
    the user job's 21 days took 0.4-0.5 CPU s less, peak memory about the same (+20 MiB);
    256 MiB saved no more and held 120-170 MiB more in memory until the checkpoint.

    A store in memory, or one whose threshold is already higher, is left as it is.
    """
    path = _database_file(con)
    previous = str(con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0])
    limit = size_bytes(previous)
    if path is None or limit >= size_bytes(BATCHED_CHECKPOINT):
        yield
        return
    # Both values are sizes: the constant above and one DuckDB printed, checked by size_bytes.
    con.execute(f"SET checkpoint_threshold = '{BATCHED_CHECKPOINT}'")
    try:
        yield
    finally:
        con.execute(f"SET checkpoint_threshold = '{limit}B'")
    wal = path + ".wal"
    if os.path.exists(wal) and os.path.getsize(wal) > limit:
        # Refused while another connection has a transaction open: DuckDB checkpoints later.
        with suppress(duckdb.Error):
            con.execute("CHECKPOINT")
