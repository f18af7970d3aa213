"""Write normalised events into the ``events`` table: batched, from Arrow, idempotent by event.id.

:class:`EventBatch` collects ECS documents as columns (the typed columns of
``0001_events.sql`` plus the document as JSON text); :func:`insert_events` stores a batch in one
statement and reports how many rows were new. An event already stored (same ``event_id``) is a
duplicate: CloudTrail delivers at least once, and a resumed run re-reads part-done files.

Implementation decisions:

- One ``INSERT … SELECT`` from a registered Arrow table per batch (DuckDB inserts 1M rows from
  Arrow in under a second; row-by-row inserts are ~10x slower); the pipeline hands over large
  batches (a commit's worth), not one per file.
- Duplicates are found by an anti-join against the stored events *of the batch's time range*
  (bound parameters, so DuckDB's zone maps on ``ts`` skip the rest of the table), not by a
  primary-key index: DuckDB holds an ART index in memory as a whole while checking inserts
  against it, and it grows by ~150 bytes per stored event, which ran ingest out of its memory
  cap on multi-million-event stores (migration ``0010``). A re-delivered CloudTrail event is the
  same record, so the same ``event.id`` at the same ``@timestamp``; an id re-used at another
  time would be stored again. Within a batch the first copy wins.
- Only the narrow id and time columns go through the duplicate search (:func:`new_rows`); the
  rows to store are then taken in Arrow and appended by a plain streaming ``INSERT``. Letting
  DuckDB deduplicate the whole rows (window plus ``RETURNING``) materialised every document and
  took ~460 MB for a 50k-row batch. The semi-join hashes the batch's ids, not the stored ones.
  The column list comes from the fixed ``EVENT_COLUMNS`` whitelist, never from input.
  ``request_parameters``
  holds the request parameters as JSON text (the flattened object), which SQL can query with
  ``json_extract``; the Java string form Elastic keeps is in the document.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from trailspike.normalise import ecs_fields as f

if TYPE_CHECKING:  # not at run time: ingest workers need the batches, not DuckDB (0.07 s, 14 MB)
    import duckdb

# DuckDB's rows per row group: commits that end on a multiple of it write each group once.
ROW_GROUP_ROWS = 122_880
# Insert order; the first 22 follow ``EVENT_COLUMNS`` (checked by a test) and ``event_row``.
INSERT_COLUMNS: tuple[str, ...] = (
    *f.EVENT_COLUMNS.values(),
    "doc",
    "source_file",
    "ingested_at",
)


def dig(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` in a nested document, or None.

    >>> dig({"a": {"b": 1}}, ("a", "b")), dig({"a": 1}, ("a", "b"))
    (1, None)
    """
    node: Any = doc
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
        if node is None:
            return None
    return node


def as_text(value: Any) -> str | None:
    """A column value as stored: strings as they are, anything else as compact JSON.

    >>> as_text("a"), as_text(None), as_text({"k": 1}), as_text(7)
    ('a', None, '{"k":1}', '7')
    """
    if value is None or value.__class__ is str or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def event_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    """The typed column values of one ECS document, in ``INSERT_COLUMNS`` order up to ``doc``.

    Written out field by field rather than walking paths: this runs once per event.

    >>> event_row({"@timestamp": "t", "event": {"id": "e"}, "source": {"as": {"number": 7}}})[:3]
    ('t', 'e', None)
    """
    event = doc.get("event") or {}
    ct = (doc.get("aws") or {}).get("cloudtrail") or {}
    ui = ct.get("user_identity") or {}
    user = doc.get("user") or {}
    source = doc.get("source") or {}
    geo = source.get("geo") or {}
    as_ = source.get("as") or {}
    cloud = doc.get("cloud") or {}
    number = as_.get("number")
    return (
        doc.get("@timestamp"),
        event.get("id"),
        event.get("action"),
        event.get("provider"),
        event.get("outcome"),
        as_text(ct.get("error_code")),
        as_text(ct.get("error_message")),
        as_text(ui.get("arn")),
        as_text(ui.get("type")),
        as_text(ui.get("access_key_id")),
        as_text(user.get("name")),
        as_text(user.get("id")),
        as_text(source.get("address")),
        source.get("ip"),
        geo.get("city_name"),
        geo.get("country_iso_code"),
        number if isinstance(number, int) else None,
        (as_.get("organization") or {}).get("name"),
        as_text((cloud.get("account") or {}).get("id")),
        as_text(cloud.get("region")),
        as_text((doc.get("user_agent") or {}).get("original")),
        as_text((ct.get("flattened") or {}).get("request_parameters")),
    )


class EventBatch:
    """Row buffer of events waiting to be inserted (turned into Arrow column-wise)."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, doc: dict[str, Any], doc_json: str, source_file: str, now: datetime) -> None:
        """Append one event."""
        self.rows.append((*event_row(doc), doc_json, source_file, now))

    def to_arrow(self) -> pa.Table:
        """The batch as an Arrow table (ts still as ISO text; cast in SQL)."""
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(INSERT_COLUMNS)
        arrays = {}
        for name, values in zip(INSERT_COLUMNS, columns, strict=True):
            arrays[name] = pa.array(values, type=_ARROW_TYPES.get(name, pa.string()))
        return pa.table(arrays)


class ColumnBatch:
    """Buffer of events for the fast path: column-value tuples and encoded documents.

    Holds the same values as :class:`EventBatch` and gives an equal Arrow table; rows come from
    :func:`trailspike.normalise.fast.fast_event`, which returns the typed columns directly, and
    documents arrive as the UTF-8 bytes ``orjson.dumps`` made. Those are joined into one buffer
    and wrapped as the Arrow string column without a copy per value: ``pa.array`` over 10k
    ~1.7 KB documents took 5 µs per document, joining and wrapping 1.6 µs.
    """

    def __init__(self, source_file: str, now: datetime) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.docs: list[bytes] = []
        self.source_file = source_file
        self.now = now

    def __len__(self) -> int:
        return len(self.docs)

    def add(self, row: tuple[Any, ...], doc_json: bytes) -> None:
        """Append one event: its typed column values (``event_row`` order) and its document."""
        self.rows.append(row)
        self.docs.append(doc_json)

    def to_arrow(self) -> pa.Table:
        """The batch as an Arrow table, equal to :meth:`EventBatch.to_arrow` for the same rows."""
        count = len(self)
        width = len(INSERT_COLUMNS) - 3
        # One C-level transpose beats 22 list appends per row (~2 µs per event).
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * width
        arrays = {}
        for name, values in zip(INSERT_COLUMNS[:width], columns, strict=True):
            arrays[name] = pa.array(values, type=_ARROW_TYPES.get(name, pa.string()))
        arrays["doc"] = _string_array(self.docs)
        # Constant columns repeated in Arrow, not converted value by value (0.35 -> 0.02 µs/row).
        arrays["source_file"] = pa.repeat(pa.scalar(self.source_file, pa.string()), count)
        arrays["ingested_at"] = pa.repeat(pa.scalar(self.now, _ARROW_TYPES["ingested_at"]), count)
        return pa.table(arrays)


def _string_array(texts: list[bytes]) -> pa.Array:
    """An Arrow string array over UTF-8 byte strings (orjson output is always valid UTF-8).

    >>> _string_array([b"a", b"", "é".encode()]).to_pylist()
    ['a', '', 'é']
    """
    joined = b"".join(texts)
    if len(joined) >= 1 << 31:  # past 32-bit offsets: let Arrow split it
        return pa.array([text.decode() for text in texts], pa.string())
    offsets = np.zeros(len(texts) + 1, dtype=np.int32)
    np.cumsum([len(text) for text in texts], out=offsets[1:])
    return pa.StringArray.from_buffers(len(texts), pa.py_buffer(offsets), pa.py_buffer(joined))


_ARROW_TYPES = {"source_as_number": pa.int64(), "ingested_at": pa.timestamp("us")}


def insert_events(
    con: duckdb.DuckDBPyConnection, table: pa.Table, keep: list[int] | None = None
) -> Counter[str]:
    """Insert an Arrow table of events; returns the number newly stored per source file.

    Events whose ``event_id`` is already stored at the same time, or repeated within the table,
    are skipped (duplicates); the caller derives them as ``rows - stored``. ``keep`` is
    :func:`new_rows` of ``table`` when the caller has already computed it.
    """
    stored: Counter[str] = Counter()
    if not table.num_rows:
        return stored
    if keep is None:
        keep = new_rows(con, table)
    if len(keep) < table.num_rows:
        table = table.take(pa.array(keep, pa.int64()))
        if not table.num_rows:
            return stored
    # Bound to a name for this one statement only. A table passed to ``con.register`` stays
    # referenced by the open transaction after ``unregister`` (the dropped view is kept until
    # commit), so every batch's Arrow data lived until the commit: ~2.1 KB per uncommitted
    # event, as much again as DuckDB's own copy of the rows.
    con.from_arrow(table).query("_trailspike_batch", _INSERT_SQL)
    for item in table.column("source_file").value_counts().to_pylist():
        stored[item["values"]] += item["counts"]
    return stored


def new_rows(con: duckdb.DuckDBPyConnection, table: pa.Table) -> list[int]:
    """Positions (ascending) of the rows of ``table`` to store: first copies of new event ids.

    Only the narrow ``event_id``/``ts`` columns go through DuckDB here, so finding duplicates
    never materialises the documents; the join hashes the batch (the small side), never the
    stored events, which are only scanned within the batch's time range.
    """
    ids = table.column("event_id")
    # Copied: registered (the bounds need bound parameters, which a relation's query() does not
    # take), the keys stay referenced until the transaction commits, and as slices of the
    # batch they would keep all of its buffers (a worker's whole mapped spool file) alive.
    everything = pa.array(range(table.num_rows), pa.int64())
    keys = pa.table({"event_id": ids.take(everything), "ts": table.column("ts").take(everything)})
    con.register("_trailspike_keys", keys)
    try:
        bounds = con.execute(
            "SELECT min(CAST(ts AS TIMESTAMP)), max(CAST(ts AS TIMESTAMP)) FROM _trailspike_keys"
        ).fetchone()
        between = list(bounds or (None, None))
        # A batch of new times (the usual case for a time-ordered trail) skips the join: hashing
        # the batch's ids was half the search's cost on the benchmark corpus (docs/ingest.md).
        stored = (
            con.execute(
                "SELECT DISTINCT e.event_id FROM events e SEMI JOIN _trailspike_keys k "
                "ON e.event_id = k.event_id WHERE e.ts BETWEEN ? AND ?",
                between,
            ).fetchall()
            if con.execute(_ANY_BETWEEN_SQL, between).fetchone()
            else []
        )
    finally:
        con.unregister("_trailspike_keys")
    seen = {row[0] for row in stored}
    if not seen and pc.count_distinct(ids, mode="all").as_py() == table.num_rows:
        return list(range(table.num_rows))  # the usual batch: no Python loop over its ids
    keep: list[int] = []
    for position, event_id in enumerate(ids.to_pylist()):
        if event_id not in seen:
            seen.add(event_id)
            keep.append(position)
    return keep


def _insert_sql() -> str:
    select = ", ".join(
        "CAST(ts AS TIMESTAMP)" if name == "ts" else f'"{name}"' for name in INSERT_COLUMNS
    )
    columns = ", ".join(f'"{name}"' for name in INSERT_COLUMNS)
    # Whitelisted names only.
    return (
        f"INSERT INTO events ({columns}) "  # noqa: S608
        f"SELECT {select} FROM _trailspike_batch"
    )


_INSERT_SQL = _insert_sql()
_ANY_BETWEEN_SQL = "SELECT 1 FROM events WHERE ts BETWEEN ? AND ? LIMIT 1"
