"""The quarantine table: records set aside with file, line or record index, reason and snippet.

Bad input never loses good input: a record that cannot be stored goes here and the rest of its
file is kept. ``trailspike quarantine`` lists the rows; values are bound parameters throughout
(the snippet is attacker-controlled text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time: ingest workers load this module but no DuckDB
    import duckdb


@dataclass(frozen=True)
class QuarantinedRecord:
    """One record set aside."""

    path: str
    line: int | None
    record_index: int | None
    reason: str
    snippet: str


def quarantine_records(
    con: duckdb.DuckDBPyConnection, rows: Sequence[QuarantinedRecord], now: datetime
) -> None:
    """Insert quarantined records (one statement per call)."""
    if not rows:
        return
    con.executemany(
        "INSERT INTO quarantine (path, line, record_index, reason, snippet, quarantined_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(r.path, r.line, r.record_index, r.reason, r.snippet, now) for r in rows],
    )


def forget_quarantined(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Drop the quarantine rows of ``path`` before it is read again (resume or ``--force``)."""
    con.execute("DELETE FROM quarantine WHERE path = ?", [path])


def list_quarantine(
    con: duckdb.DuckDBPyConnection, path_like: str | None = None, limit: int = 100
) -> list[QuarantinedRecord]:
    """Quarantined records, oldest first, optionally only paths containing ``path_like``."""
    sql = "SELECT path, line, record_index, reason, snippet FROM quarantine"
    params: list[object] = []
    if path_like:
        sql += " WHERE contains(path, ?)"
        params.append(path_like)
    sql += " ORDER BY id LIMIT ?"
    params.append(limit)
    return [QuarantinedRecord(*row) for row in con.execute(sql, params).fetchall()]


def count_by_reason(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """(kind of reason, count) over the whole quarantine, most common first.

    Reasons are grouped without their details (the quoted value or the text after a colon), so
    ``invalid sourceIPAddress '1.2.3.999'`` and ``… '300.1.1.1'`` count together.
    """
    rows = con.execute(
        "SELECT regexp_replace(reason, '(:| ''| \\().*$', '') AS kind, count(*) AS n "
        "FROM quarantine GROUP BY kind ORDER BY n DESC, kind"
    ).fetchall()
    return [(str(r), int(n)) for r, n in rows]
