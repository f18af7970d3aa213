"""Open a store that ``trailspike run`` may be holding: wait briefly, then explain.

The service holds the DuckDB file only while a cycle runs, so a command that finds the store busy
usually gets it within seconds. :func:`open_store_waiting` retries for ``wait`` seconds and then
re-raises :class:`StoreBusyError` with what to do.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from trailspike.core.errors import StoreBusyError, TrailspikeError
from trailspike.store.db import open_store


def open_store_waiting(
    path: str | Path, read_only: bool = False, wait: float = 15.0, must_exist: bool = False
) -> duckdb.DuckDBPyConnection:
    """:func:`open_store`, retrying while another process (the service) holds the file."""
    if must_exist and str(path) != ":memory:" and not Path(path).exists():
        raise TrailspikeError(
            f"no store at {path}: ingest CloudTrail first (`trailspike ingest PATH --db {path}`)"
        )
    deadline = time.monotonic() + wait
    while True:
        try:
            return open_store(path, read_only=read_only)
        except StoreBusyError as exc:
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"{exc.message} If `trailspike run` owns it, it frees the store between "
                    "cycles: retry in a moment, or raise --wait."
                ) from exc
            time.sleep(0.5)
