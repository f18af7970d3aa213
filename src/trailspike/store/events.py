"""Write normalised events into the ``events`` table: batched, from Arrow, idempotent by event.id.

:class:`EventBatch` collects ECS documents as columns (the typed columns of
``0001_events.sql`` plus the document as JSON text); :func:`insert_events` stores a batch in one
statement and reports how many rows were new. An event already stored (same ``event_id``) is a
duplicate: CloudTrail delivers at least once, and a resumed run re-reads part-done files.

Implementation decisions: one ``INSERT OR IGNORE … SELECT`` from a registered Arrow table per
batch (DuckDB inserts 1M rows from Arrow in under a second; row-by-row inserts are ~10x slower).
``RETURNING source_file`` gives the stored count per file without a second pass. The column list
comes from the fixed ``EVENT_COLUMNS`` whitelist, never from input. ``request_parameters`` holds
the request parameters as JSON text (the flattened object), which SQL can query with
``json_extract``; the Java string form Elastic keeps is in the document.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from trailspike.normalise import ecs_fields as f

# Columns filled from the ECS document, in table order (ts and request_parameters handled apart).
_DOC_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (column, tuple(field.split(".")))
    for field, column in f.EVENT_COLUMNS.items()
    if column not in ("ts", "request_parameters")
)
_REQUEST_PATH = ("aws", "cloudtrail", "flattened", "request_parameters")
INSERT_COLUMNS: tuple[str, ...] = (
    "ts",
    *(column for column, _ in _DOC_COLUMNS),
    "request_parameters",
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


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


class EventBatch:
    """Column-wise buffer of events waiting to be inserted."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in INSERT_COLUMNS}
        self.ids: set[str] = set()
        self.within_duplicates: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.columns["doc"])

    def add(self, doc: dict[str, Any], doc_json: str, source_file: str, now: datetime) -> bool:
        """Append one event; returns False (and counts it) when its id is already in the batch."""
        event_id = dig(doc, ("event", "id"))
        if event_id in self.ids:
            self.within_duplicates[source_file] += 1
            return False
        self.ids.add(event_id)
        cols = self.columns
        cols["ts"].append(doc.get("@timestamp"))
        for column, path in _DOC_COLUMNS:
            value = dig(doc, path)
            if column == "source_as_number":
                cols[column].append(value if isinstance(value, int) else None)
            else:
                cols[column].append(_as_text(value))
        cols["request_parameters"].append(_as_text(dig(doc, _REQUEST_PATH)))
        cols["doc"].append(doc_json)
        cols["source_file"].append(source_file)
        cols["ingested_at"].append(now)
        return True

    def to_arrow(self) -> pa.Table:
        """The batch as an Arrow table (ts still as ISO text; cast in SQL)."""
        arrays = {}
        for name, values in self.columns.items():
            if name == "source_as_number":
                arrays[name] = pa.array(values, type=pa.int64())
            elif name == "ingested_at":
                arrays[name] = pa.array(values, type=pa.timestamp("us"))
            else:
                arrays[name] = pa.array(values, type=pa.string())
        return pa.table(arrays)


def insert_events(con: duckdb.DuckDBPyConnection, batch: EventBatch) -> Counter[str]:
    """Insert a batch; returns the number of newly stored events per source file.

    Events whose ``event_id`` is already stored are skipped (duplicates); the caller derives
    them as ``added - stored``.
    """
    stored: Counter[str] = Counter()
    if not len(batch):
        return stored
    table = batch.to_arrow()
    con.register("_trailspike_batch", table)
    try:
        select = ", ".join(
            "CAST(ts AS TIMESTAMP)" if name == "ts" else f'"{name}"' for name in INSERT_COLUMNS
        )
        columns = ", ".join(f'"{name}"' for name in INSERT_COLUMNS)
        sql = (
            f"INSERT OR IGNORE INTO events ({columns}) "  # noqa: S608 - whitelisted names only
            f"SELECT {select} FROM _trailspike_batch RETURNING source_file"
        )
        stored.update(con.execute(sql).fetchnumpy()["source_file"].tolist())
    finally:
        con.unregister("_trailspike_batch")
    return stored
