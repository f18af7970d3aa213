"""How the web UI reaches the DuckDB store: short connections, off the event loop.

DuckDB lets one process hold a database file; while another process (``trailspike run``) has it
open for writing, nobody else can open it, not even read-only. The UI therefore never keeps the
file open: each page opens it read-only, runs its queries and closes it, so ``serve`` and a
batch command can take turns; actions (acknowledge, close) open it read-write for one statement.

Implementation decisions: every call runs in a worker thread (DuckDB calls block) under one lock,
because DuckDB refuses two connections to the same file with different ``read_only`` flags in one
process. When ``trailspike run`` embeds the UI it passes its own connection instead
(:class:`SharedStore`), and the lock serialises cursors on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import duckdb
from starlette.concurrency import run_in_threadpool

from trailspike.core.errors import StoreBusyError, TrailspikeError
from trailspike.store.db import open_store

T = TypeVar("T")


class StoreMissingError(TrailspikeError):
    """The store file does not exist yet (nothing ingested)."""


class Store(Protocol):
    """What the routes need: run a function with a read or a read-write connection."""

    async def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T: ...

    async def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T: ...

    def describe(self) -> str: ...


class FileStore:
    """A store file opened per call: read-only for pages, read-write for actions."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def describe(self) -> str:
        """The path shown in the page footer."""
        return str(self.path)

    def prepare(self) -> None:
        """Create or migrate the store once at start-up, if nobody else holds it.

        A busy or missing store is not an error here: pages explain it when they are requested
        (``serve`` does not create an empty store where the user may have mistyped a path).
        """
        if not self.path.exists():
            return
        try:
            con = open_store(self.path)
        except StoreBusyError:
            return
        con.close()

    def problem(self) -> str | None:
        """Why pages cannot read the store right now (missing or busy), or ``None``."""
        try:
            self._run(lambda con: None, True)
        except TrailspikeError as exc:
            return str(exc)
        return None

    def _run(self, fn: Callable[[duckdb.DuckDBPyConnection], T], read_only: bool) -> T:
        if not self.path.exists():
            raise StoreMissingError(
                f"the store {self.path} does not exist yet: run `trailspike ingest` or "
                "`trailspike demo` first, or point `serve` at a store with --db"
            )
        with self._lock:
            try:
                con = open_store(self.path, read_only=read_only)
            except duckdb.IOException as exc:
                # read-only opens of a file locked by a writer fail with a "Could not set lock"
                # message that open_store only translates for read-write opens.
                raise StoreBusyError(_busy_message(self.path)) from exc
            except StoreBusyError as exc:
                raise StoreBusyError(_busy_message(self.path)) from exc
            try:
                return fn(con)
            finally:
                con.close()

    async def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn`` with a read-only connection in a worker thread."""
        return await run_in_threadpool(self._run, fn, True)

    async def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn`` with a read-write connection in a worker thread."""
        return await run_in_threadpool(self._run, fn, False)


class SharedStore:
    """A connection owned by the embedding process (the service), used through cursors."""

    def __init__(self, con: duckdb.DuckDBPyConnection, label: str = "shared connection") -> None:
        self._con = con
        self._label = label
        self._lock = threading.Lock()

    def describe(self) -> str:
        """The label shown in the page footer."""
        return self._label

    def _run(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        with self._lock:
            cursor = self._con.cursor()
            try:
                return fn(cursor)
            finally:
                cursor.close()

    async def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn`` on a cursor of the shared connection in a worker thread."""
        return await run_in_threadpool(self._run, fn)

    async def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Same as :meth:`read`: the owner's connection is read-write."""
        return await run_in_threadpool(self._run, fn)


def _busy_message(path: Path) -> str:
    return (
        f"the store {path} is open for writing by another process (probably `trailspike run` "
        "or an ingest). DuckDB lets only that process open the file. Either stop it and reload "
        "this page, or serve a copy: cp the file and start `trailspike serve --db COPY`."
    )
