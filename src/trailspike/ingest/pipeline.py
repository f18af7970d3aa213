"""``ingest``: read CloudTrail files and S3 objects, normalise to ECS, store, quarantine the bad.

For every source file: skip it if ``ingested_files`` says it was read completely with the same
size and mtime/ETag (unless ``force``); otherwise mark it incomplete, read, validate and normalise
its records (:mod:`.normalizer`), and insert the rows. A transaction commits the rows together
with the quarantine rows and the completion marks of the files whose rows it holds in full. A
killed run therefore leaves its unfinished files marked incomplete; the next run re-reads them
and the events already stored count as duplicates instead of being stored twice.

Implementation decisions (figures: docs/ingest.md, ``benchmarks/ingest.py``):

- Records are normalised in Python, not in DuckDB SQL: parity with Elastic needs Java
  ``Map.toString`` strings in HashMap order, uap-core user-agent parsing, the categorisation
  table and recursive null dropping, and the stored document must be byte-identical whichever
  path made it. The fused fast path (:mod:`trailspike.normalise.fast`) is the default; the
  reference path (``ingest_fast_path = false``) is kept as its yardstick. Writing the documents
  into DuckDB costs ~8 µs per event in this process on its own, more than twice ``zcat``'s
  whole time per event, so no normaliser could bring ingest to ``zcat`` speed while the store
  keeps each event's JSON document.
- Several files or S3 objects are read and normalised in parallel worker processes
  (``ingest_workers``; 0 = one per CPU; each worker has its own boto3 client) while this process
  inserts, with a bounded number of files in flight; standard input and files over 256 MB are
  streamed here. The workers are forked from a fork server that imported their code and loaded
  geoip2fast's data once, so they share those pages (spawned workers each held ~180 MB of their
  own); 1M benchmark events: total PSS 1,402 -> 1,249 MB. Their tables come back through
  Arrow files in shared memory (:mod:`.spool`), not pickled through the pool's pipe.
- Rows go into the store as they arrive, ``ingest_batch_size`` (10k) at most per insert: rows
  waiting here as Arrow tables (50k before) only added to the uncommitted rows DuckDB holds
  anyway. Each insert reads its Arrow table through a relation bound for that one statement
  (:func:`insert_events`), not ``con.register``: a registered table stays referenced by the open
  transaction until it commits, which doubled this process's memory per uncommitted row.
- Commits fall on DuckDB's row-group boundaries (``ROW_GROUP_ROWS``): every commit recompresses
  the store's partly filled last row group, so committing every 50k rows compressed each
  document ~2.5 times (store cost 15-18 -> 8 µs/event on 300k benchmark events). The price is
  up to one row group of uncommitted rows (~260 MB) in DuckDB; committing every half row group
  saved ~120 MB here but cost 8.5 -> 35 s of commit CPU per 1M events. The run's last
  transaction holds at least a row group where it can (see ``_Run._commit_at_boundary``).
  DuckDB runs one thread while ingesting: a second made inserts cost more CPU, not less time.
- Measured and not kept (docs/ingest.md): glibc's mmap threshold fixed at 128 KiB (-25 MB here,
  +6 µs/event of page faults), a 128 MB DuckDB cap instead of ``INGEST_MEMORY_LIMIT`` (-140 MB
  here, +7 µs/event). Memory does not grow with the store: ``events`` has no ART index (0010).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from trailspike.core.errors import InputError
from trailspike.core.timeutil import utcnow
from trailspike.ingest.late import FutureEvents, LateCheck, LateEvents, late_note
from trailspike.ingest.normalizer import (
    Chunk,
    Context,
    init_worker,
    process_path,
    process_stream,
    unspool,
)
from trailspike.ingest.progress import FileProgress
from trailspike.ingest.quarantine import QuarantinedRecord, forget_quarantined, quarantine_records
from trailspike.ingest.sources import SourceFile, expand_sources
from trailspike.ingest.spool import make_spool_dir
from trailspike.store.db import bound_for_bulk_load, restore_settings
from trailspike.store.events import ROW_GROUP_ROWS, insert_events, new_rows
from trailspike.store.files import FileCounts, mark_complete, register_files

# Files larger than this are streamed in this process rather than handed whole to a worker.
WORKER_FILE_LIMIT = 256 << 20
# DuckDB's memory limit during ingest; the rest of the 1 GB budget is Python and Arrow buffers.
INGEST_MEMORY_LIMIT = "256MB"
# Below this much input, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 8 << 20


@dataclass
class IngestSummary:
    """What one ingest run did."""

    files: int = 0
    skipped_files: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    damaged_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    late: list[LateEvents] = field(default_factory=list)  # stored after jobs analysed past them
    out_of_time: list[str] = field(default_factory=list)  # notes on late and future-dated events

    def summary_line(self) -> str:
        """One line for the end of a run.

        >>> print(IngestSummary(3, 1, 530, 470, 10, 50, 0.5).summary_line())
        3 files (1 skipped), 530 events read, 470 stored, 10 duplicates, 50 quarantined, 0.5 s,
        1,060 events/s
        """
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        damaged = f", {len(self.damaged_files)} damaged" if self.damaged_files else ""
        return (
            f"{self.files} files ({self.skipped_files} skipped{damaged}), "
            f"{self.records:,} events read, {self.stored:,} stored, "
            f"{self.duplicates:,} duplicates, {self.quarantined:,} quarantined, "
            f"{self.seconds:.1f} s, {rate:,.0f} events/s"
        )


@dataclass
class _FileStats:
    source: SourceFile
    records: int = 0
    added: int = 0  # rows handed over for storing
    processed: int = 0  # of those, rows inserted or found to be duplicates
    stored: int = 0
    quarantined: int = 0
    done: bool = False
    retry: bool = False  # could not be read to the end: left incomplete for the next run


class _Run:
    """State of one ingest run: pending tables, pending files and the summary."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, ctx: Context, settings: Mapping[str, Any]
    ) -> None:
        self.con = con
        self.ctx = ctx
        self.summary = IngestSummary()
        self.rows = 0  # rows waiting in ``pending``
        self.commit_rows = max(1, int(settings.get("ingest_batch_size", 10000)))
        # Rows in the store's last, partly filled row group (see flush).
        self.filled = _open_row_group_rows(con)
        self.in_transaction = False
        self.aligned = False  # the open transaction began on a row-group boundary
        self.passed = False  # and went past one without a commit (see _commit_at_boundary)
        self.read_bytes = self.read_records = 0  # of the files done: for _rows_to_come
        self.marks: list[FileCounts] = []  # files done since the last commit (see _complete)
        self.pending: list[pa.Table] = []
        self.bad: list[QuarantinedRecord] = []
        self.files: dict[str, _FileStats] = {}
        self.late = LateCheck(con)
        self.future = FutureEvents.after(ctx.now)
        if ctx.geo.notice:
            self.summary.notes.append(ctx.geo.notice)

    def begin_files(self, sources: list[SourceFile], force: bool) -> list[SourceFile]:
        """Register the files to read (marked incomplete, in one transaction); skip the done.

        ``ingested_files`` is read once, not queried per file: a bucket prefix can list
        thousands of objects, and a statement (and commit) per file cost ~10 ms each. Only the
        rows of the listed paths are read: a service's cycle lists a few recent folders of a
        trail whose table holds every file of a year.
        """
        paths = [s.path for s in sources if s.remembered]
        listed = pa.table({"path": pa.array(paths, pa.string())})
        self.con.register("_ts_listed_files", listed)
        try:
            known = {
                row[0]: row[1:]
                for row in self.con.execute(
                    "SELECT f.path, f.size, f.fingerprint, f.complete FROM ingested_files f "
                    "JOIN (SELECT DISTINCT path FROM _ts_listed_files) l ON f.path = l.path"
                ).fetchall()
            }
        finally:
            self.con.unregister("_ts_listed_files")
        todo: list[SourceFile] = []
        marks: dict[str, SourceFile] = {}  # a path listed twice is registered once, as before
        forget: list[str] = []
        for source in sources:
            row = known.get(source.path) if source.remembered else None
            if row is not None:
                unchanged = row[0] == source.size and row[1] == source.fingerprint
                if row[2] and unchanged and not force:
                    continue
                forget.append(source.path)
            if source.remembered:
                marks[source.path] = source
            self.files[source.path] = _FileStats(source)
            todo.append(source)
        self._begin()
        try:
            for path in forget:
                forget_quarantined(self.con, path)
            if marks:
                files = [(m.path, m.size, m.fingerprint) for m in marks.values()]
                register_files(self.con, files, self.ctx.now)
            self._commit()
        except Exception:
            self._rollback()
            raise
        return todo

    def add_chunk(self, chunk: Chunk, last: bool) -> None:
        stats = self.files[chunk.path]
        stats.records += chunk.records
        stats.quarantined += len(chunk.quarantined) - (1 if chunk.damage else 0)
        self.bad.extend(chunk.quarantined)
        if chunk.table is not None and chunk.table.num_rows:
            stats.added += chunk.table.num_rows
            self.pending.append(chunk.table)
            self.rows += chunk.table.num_rows
        if chunk.damage:
            self.summary.damaged_files.append(chunk.path)
            self.summary.notes.append(
                f"{chunk.path}: {chunk.damage}; the records before it were kept"
            )
        stats.done = last
        if self.rows >= self.commit_rows:
            self.flush()

    def read_here(self, stats: _FileStats) -> None:
        """Stream one file in this process."""
        path = stats.source.path
        try:
            stream = stats.source.open()
            try:
                chunks = process_stream(stream, path, self.ctx)
                for chunk in _with_last(chunks):
                    self.add_chunk(*chunk)
            finally:
                if stats.source.remembered:
                    stream.close()
        except (OSError, InputError) as exc:
            self.unreadable(path, exc)

    def unreadable(self, path: str, exc: Exception) -> None:
        """Report a file that failed to open or to read to the end, and leave it incomplete.

        A vanished file, a permission, an S3 connection reset mid-object: the next run reads it
        again (its rows already stored count as duplicates, its quarantine rows are replaced).
        """
        self.summary.damaged_files.append(path)
        self.bad.append(QuarantinedRecord(path, None, None, f"cannot read file: {exc}", ""))
        self.summary.notes.append(f"{path}: cannot read file: {exc}; the next run reads it again")
        stats = self.files[path]
        stats.done = stats.retry = True

    def _begin(self) -> None:
        if not self.in_transaction:
            self.con.execute("BEGIN")
            self.in_transaction = True
            self.aligned, self.passed = self.filled == 0, False

    def _rollback(self) -> None:
        self.marks = []
        self.late.rollback()
        if self.in_transaction:
            self.con.execute("ROLLBACK")
            self.in_transaction = False

    def _insert(self, table: pa.Table, keep: list[int]) -> None:
        """Insert the ``keep`` rows of ``table`` into the open transaction; count per file."""
        for item in table.column("source_file").value_counts().to_pylist():
            self.files[item["values"]].processed += item["counts"]
        stored = insert_events(self.con, table, keep)
        self.late.observe(table, keep)
        self.future.observe(table, keep)
        for path, count in stored.items():
            self.files[path].stored += count
        self.filled = (self.filled + len(keep)) % ROW_GROUP_ROWS

    def flush(self, final: bool = False) -> None:
        """Insert the pending rows; commit when the store's open row group is full, or ``final``.

        Commits fall on DuckDB's row-group boundaries: each commit rewrites (recompresses) the
        partly filled last row group, so committing every 50k rows compressed each document
        about 2.5 times. Rows past the boundary wait for the next flush. Near the end of a run
        a boundary may pass without a commit (:meth:`_commit_at_boundary`). The quarantine rows and
        the completion marks of files whose rows are all handled go into the same transaction,
        so a run that stops leaves every file it had not committed marked incomplete, and the
        next run reads those again (their stored events then count as duplicates).
        """
        pending, self.pending, self.rows = self.pending, [], 0
        commit = final
        self._begin()
        try:
            if pending:
                table = pa.concat_tables(pending)
                keep = new_rows(self.con, table)
                room = ROW_GROUP_ROWS - self.filled
                if not final and len(keep) >= room and self._commit_at_boundary(len(keep) - room):
                    cut = keep[room - 1] + 1
                    if cut < table.num_rows:
                        self.pending, self.rows = [table.slice(cut)], table.num_rows - cut
                    table, keep = table.slice(0, cut), keep[:room]
                    commit = True
                self._insert(table, keep)
            quarantine_records(self.con, self.bad, self.ctx.now)
            self.bad = []
            finished = [s for s in self.files.values() if s.done and s.processed == s.added]
            self._complete(finished)
            for stats in finished:
                del self.files[stats.source.path]
            if commit:
                self._commit()
        except Exception:
            self._rollback()
            raise

    def _commit_at_boundary(self, past: int) -> bool:
        """Whether to commit at the row-group boundary just reached (``past`` rows beyond it).

        DuckDB attaches the row groups a transaction of a row group or more wrote; a smaller one
        is appended to the table row by row, then compressed by a checkpoint: +3.4 µs per demo
        event (docs/ingest.md, session 7). So when less than a row group is still expected, the
        commit waits for the run's end. Only a transaction begun on a boundary may pass one (its
        row groups would otherwise follow a partly filled one), and only one boundary, so a
        wrong estimate leaves at most two row groups uncommitted."""
        if not self.aligned or self.passed:
            return True
        expected = self._rows_to_come()
        self.passed = expected is not None and past + expected < ROW_GROUP_ROWS
        return not self.passed

    def _rows_to_come(self) -> float | None:
        """Rows the files not done should give, by the rows per byte of those done; None when
        that cannot be told (none done yet, standard input)."""
        if not self.read_bytes:
            return None
        per_byte = self.read_records / self.read_bytes
        waiting = 0.0
        for stats in self.files.values():
            if stats.done:
                continue
            if stats.source.size is None:
                return None
            waiting += max(0.0, stats.source.size * per_byte - stats.records)  # less those read
        return waiting

    def _commit(self) -> None:
        if self.marks:  # one statement per commit, not per flush
            mark_complete(self.con, self.marks, self.ctx.now)
            self.marks = []
        try:
            self.con.execute("COMMIT")
            self.late.commit()
        finally:
            self.in_transaction = False

    def _complete(self, finished: list[_FileStats]) -> None:
        """Count finished files in the summary; their completion marks go in at the commit (one
        ``UPDATE`` per file was 6 % of this process's samples on the demo world, session 5)."""
        summary = self.summary
        marks = self.marks
        for stats in finished:
            duplicates = stats.added - stats.stored
            if stats.source.size is not None and not stats.retry:
                self.read_bytes += stats.source.size
                self.read_records += stats.records
            summary.files += 1
            summary.records += stats.records
            summary.stored += stats.stored
            summary.duplicates += duplicates
            summary.quarantined += stats.quarantined
            if stats.source.remembered and not stats.retry:
                marks.append(
                    (
                        stats.source.path,
                        stats.records,
                        stats.stored,
                        duplicates,
                        stats.quarantined,
                    )
                )


def _open_row_group_rows(con: duckdb.DuckDBPyConnection) -> int:
    """Rows in the events table's last row group (appends fill it before starting another)."""
    row = con.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0] if row else 0) % ROW_GROUP_ROWS


def _with_last(chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, bool]]:
    """Pair each chunk with whether it is the file's last."""
    previous: Chunk | None = None
    for chunk in chunks:
        if previous is not None:
            yield previous, False
        previous = chunk
    if previous is not None:
        yield previous, True


def _local_for_workers(files: list[SourceFile]) -> set[str]:
    """Files and S3 objects a worker can open by name (not stdin, not huge files)."""
    return {f.path for f in files if f.remembered and (f.size or 0) <= WORKER_FILE_LIMIT}


def _worker_count(settings: Mapping[str, Any], files: list[SourceFile], local: set[str]) -> int:
    wanted = int(settings.get("ingest_workers", 0) or 0) or (os.cpu_count() or 1)
    volume = sum(f.size or 0 for f in files if f.path in local)
    if wanted <= 1 or len(local) < 2 or volume < PARALLEL_MIN_BYTES:
        return 0
    return min(wanted, len(local))


def ingest(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[str],
    settings: Mapping[str, Any],
    *,
    force: bool = False,
    progress: bool = False,
    since: date | None = None,
    now: datetime | None = None,
) -> IngestSummary:
    """Ingest CloudTrail files, directories, globs, ``-`` or ``s3://bucket/prefix`` into the store.

    Parameters
    ----------
    con
        An open, migrated store (:func:`trailspike.store.db.open_store`).
    sources
        Paths, directories (recursive), globs, ``-`` for standard input, or S3 URLs.
    settings
        Resolved settings (GeoIP databases, ``s3_endpoint_url``, ``ingest_batch_size``,
        ``ingest_workers``, ``max_record_bytes``).
    force
        Re-read files that were already ingested completely.
    progress
        Show a rich progress bar (for terminals).
    since
        Skip dated folders (``…/YYYY/MM/DD/``) before this day while listing sources (the
        service between its full scans).
    now
        The time of the ingest (naive UTC; default the clock): stored as each file's and bad
        record's time, and events dated over an hour after it are named as from the future. A
        replay of a generated world passes the world's own clock.

    Returns
    -------
    IngestSummary
        Counts of files, events read, stored, duplicates and quarantined, and the time taken.
    """
    started = time.perf_counter()
    files = expand_sources(sources, settings, since)
    now = now or utcnow()
    run = _Run(con, Context.from_settings(settings, now), settings)
    todo = run.begin_files(files, force)
    run.summary.skipped_files = len(files) - len(todo)
    local = _local_for_workers(todo)
    workers = _worker_count(settings, todo, local)
    bar = FileProgress(progress, len(todo))
    saved = bound_for_bulk_load(con, INGEST_MEMORY_LIMIT)
    try:
        if workers:
            _read_parallel(run, [f for f in todo if f.path in local], settings, workers, bar)
            todo = [f for f in todo if f.path not in local]
        for source in todo:
            run.read_here(run.files[source.path])
            bar.advance()
        run.flush(final=True)
        # Checkpoint under the cap: left to close(), after the cap is lifted, the final
        # checkpoint took the process from 0.8 to 1.9 GB on 1.1M demo events.
        con.execute("CHECKPOINT")
    finally:
        bar.stop()
        restore_settings(con, saved)
    run.summary.files += run.summary.skipped_files
    run.summary.seconds = time.perf_counter() - started
    run.summary.late = run.late.found()
    if run.summary.late:
        run.summary.out_of_time.append(late_note(run.summary.late))
    if future := run.future.note():
        run.summary.out_of_time.append(future)
    run.summary.notes += run.summary.out_of_time
    return run.summary


def _read_parallel(
    run: _Run, files: list[SourceFile], settings: Mapping[str, Any], workers: int, bar: FileProgress
) -> None:
    import multiprocessing

    # Not fork: this process holds an open DuckDB connection and its threads. The fork server
    # is a fresh process that imports the worker's code (and GeoIP data) once; the workers forked
    # from it share those pages instead of each importing and loading their own.
    context: Any = multiprocessing.get_context("spawn")  # Windows has no fork server
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        preload = ["trailspike.ingest.normalizer"]
        if run.ctx.geo.uses_fallback:
            preload.append("trailspike.ingest.preload_geo")
        # Takes effect when the server starts (the first parallel ingest of this process).
        context.set_forkserver_preload(preload)
    # The workers' tables come back through files in shared memory (see spool.py).
    spool = make_spool_dir()
    try:
        _run_pool(run, files, settings, workers, bar, context, spool)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def _run_pool(
    run: _Run,
    files: list[SourceFile],
    settings: Mapping[str, Any],
    workers: int,
    bar: FileProgress,
    context: Any,
    spool: str,
) -> None:
    with context.Pool(
        workers, init_worker, (dict(settings), run.ctx.now, dict(os.environ), spool)
    ) as pool:
        # A bounded window of files in flight: results wait in this process's memory, so
        # workers must not run ahead of the inserts (Pool.imap would queue every file).
        queue = iter(files)
        pending: deque[tuple[SourceFile, Any]] = deque()

        def submit() -> None:
            source = next(queue, None)
            if source is not None:
                pending.append((source, pool.apply_async(process_path, (source.path,))))

        for _ in range(workers + 1):
            submit()
        while pending:
            source, result = pending.popleft()
            submit()
            try:
                chunks = unspool(result.get())
            except (OSError, InputError) as exc:
                run.unreadable(source.path, exc)
            else:
                for chunk, last in _with_last(chunks):
                    run.add_chunk(chunk, last)
            bar.advance()
        # Let the workers finish before the with-block terminates the pool: terminating a
        # running pool let its maintenance thread spawn a replacement worker (~100 MB, 0.2 s).
        pool.close()
        pool.join()
