"""Open the DuckDB store and bring its schema up to date.

Implementation decisions: migrations are numbered, append-only ``.sql`` files applied in order and
recorded in ``schema_migrations``, so an old store upgrades in place. DuckDB lets one process hold a
file for writing; a second writer gets :class:`StoreBusyError` with what to do instead. All SQL that
carries values uses bound parameters: log text is attacker-controlled.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import duckdb

from trailspike.core.errors import StoreBusyError
from trailspike.core.timeutil import utcnow


def _migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("trailspike.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text()))
    return sorted(found)


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in _migration_files():
        if version in done:
            continue
        con.execute("BEGIN")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utcnow()])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def open_store(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Connect to the store at ``path`` (``:memory:`` for a throw-away one) and migrate it.

    >>> con = open_store(":memory:")
    >>> con.execute("SELECT count(*) FROM events").fetchone()
    (0,)
    """
    target = str(path)
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreBusyError(
                f"the store {target} is open for writing by another process "
                "(probably `trailspike run` or `trailspike serve`). Stop it, or point this "
                "command at a copy with --db."
            ) from exc
        raise
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        apply_migrations(con)
    return con


def bound_for_bulk_load(con: duckdb.DuckDBPyConnection, memory_limit: str) -> tuple[str, int]:
    """Cap DuckDB's memory (it caches up to 80 % of RAM by default) and threads for a bulk load.

    DuckDB's progress bar is turned off for the connection (the caller shows its own). Returns
    the previous memory limit and thread count, for :func:`restore_settings`.
    """
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    previous = str(row[0]) if row else "80%"
    set_memory_limit(con, memory_limit)
    # DuckDB's own progress bar would interleave with ours and with the summary line.
    con.execute("SET enable_progress_bar = false")
    # One DuckDB thread: a second one made each insert cost more CPU, not less time (row groups
    # are compressed one at a time, and ingest's worker processes need the other core).
    row = con.execute("SELECT current_setting('threads')").fetchone()
    con.execute("SET threads = 1")
    return previous, int(row[0]) if row else 0


def restore_settings(con: duckdb.DuckDBPyConnection, saved: tuple[str, int]) -> None:
    """Put back what :func:`bound_for_bulk_load` changed."""
    set_memory_limit(con, saved[0])
    if saved[1] > 0:
        con.execute(f"SET threads = {int(saved[1])}")  # an int we read back


def set_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """``SET memory_limit``, for our constant or DuckDB's own earlier setting.

    SET takes no bound parameters, so the value must look like a size before it is written
    into the statement.

    >>> set_memory_limit(duckdb.connect(), "1 GB; DROP TABLE events")
    Traceback (most recent call last):
    ...
    ValueError: not a memory size: '1 GB; DROP TABLE events'
    """
    if not re.fullmatch(r"[0-9.]+ ?[A-Za-z%]*", limit):
        raise ValueError(f"not a memory size: {limit!r}")
    con.execute(f"SET memory_limit = '{limit}'")
