"""Rewrite a store into a new file without its free blocks (after a prune, the file keeps its size).

DuckDB reuses the blocks a delete frees but never gives them back to the file system. Compacting
copies every table, view and sequence (with its current value) into a fresh file beside the store
(``COPY FROM DATABASE``) and then replaces the store with it in one rename, so a killed compaction
leaves the store as it was (and a ``.compact`` file the next one removes).

The caller keeps other writers away meanwhile: ``trailspike store compact`` holds the service's
lock, so no ``trailspike run`` cycle can write to the old file between the copy and the rename.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from trailspike.store.db import open_store


@dataclass(frozen=True)
class Compacted:
    """The store's size before and after, in bytes."""

    before: int
    after: int


def compact(
    path: Path, opener: Callable[[Path], duckdb.DuckDBPyConnection] = open_store
) -> Compacted:
    """Rewrite the store at ``path`` into a fresh file and put it in the store's place.

    ``opener`` opens the store for writing (the CLI's waits while another process holds it).
    """
    target = path.with_name(path.name + ".compact")
    target.unlink(missing_ok=True)  # left by a compaction that was killed
    before = path.stat().st_size
    con = opener(path)
    try:
        con.execute("CHECKPOINT")
        (name,) = con.execute("SELECT current_database()").fetchone() or ("",)
        con.execute("ATTACH ? AS compacted", [str(target)])
        try:
            # The source name is DuckDB's own catalog name for this file, not user input.
            con.execute(f'COPY FROM DATABASE "{name}" TO compacted')
        finally:
            con.execute("DETACH compacted")
    finally:
        con.close()
    os.replace(target, path)
    return Compacted(before, path.stat().st_size)
