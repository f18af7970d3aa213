"""The ``ingested_files`` table: which files ingest has read, and whether to the end.

Ingest registers the files it is about to read as incomplete, then marks them complete with their
counts in the transaction that holds the last of their rows (``ingest/pipeline.py``); a re-run
skips complete files whose size and fingerprint are unchanged and reads the others again.

Implementation decisions: each of the two steps is one statement from an Arrow table, however
many files a run or a flush has. ``executemany`` ran one ``INSERT`` per file, 15 % of the
ingesting process's CPU on the demo world's 588 files (docs/ingest.md, session 5), and one
``UPDATE`` per completed file was 6 % of its samples there.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

# (path, size, fingerprint): a file about to be read.
FileMark = tuple[str, int | None, str | None]
# (path, records, stored, duplicates, quarantined): a file read to the end.
FileCounts = tuple[str, int, int, int, int]


def register_files(con: duckdb.DuckDBPyConnection, files: list[FileMark], now: datetime) -> None:
    """Mark ``files`` incomplete, with zero counts (a path listed twice: the caller's job)."""
    paths, sizes, fingerprints = zip(*files, strict=True) if files else ((), (), ())
    table = _stamped(
        {
            "path": pa.array(paths, pa.string()),
            "size": pa.array(sizes, pa.int64()),
            "fingerprint": pa.array(fingerprints, pa.string()),
        },
        now,
    )
    con.from_arrow(table).query(
        "_trailspike_files",
        "INSERT OR REPLACE INTO ingested_files (path, size, fingerprint, records, stored, "
        "duplicates, quarantined, complete, ingested_at) "
        "SELECT path, size, fingerprint, 0, 0, 0, 0, false, ingested_at FROM _trailspike_files",
    )


def mark_complete(con: duckdb.DuckDBPyConnection, files: list[FileCounts], now: datetime) -> None:
    """Store the counts of files read to the end and mark them complete."""
    if not files:
        return
    paths, *counts = zip(*files, strict=True)
    names = ("records", "stored", "duplicates", "quarantined")
    columns = {
        name: pa.array(values, pa.int64()) for name, values in zip(names, counts, strict=True)
    }
    table = _stamped({"path": pa.array(paths, pa.string()), **columns}, now)
    con.from_arrow(table).query(
        "_trailspike_done",
        "UPDATE ingested_files SET records = d.records, stored = d.stored, "
        "duplicates = d.duplicates, quarantined = d.quarantined, complete = true, "
        "ingested_at = d.ingested_at FROM _trailspike_done d WHERE ingested_files.path = d.path",
    )


def _stamped(columns: dict[str, pa.Array], now: datetime) -> pa.Table:
    """The columns plus ``ingested_at`` = ``now`` on every row, as one Arrow table."""
    rows = len(columns["path"])
    return pa.table({**columns, "ingested_at": pa.repeat(pa.scalar(now, pa.timestamp("us")), rows)})
