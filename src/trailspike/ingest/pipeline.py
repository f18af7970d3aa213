"""``ingest``: read CloudTrail files and S3 objects, normalise to ECS, store, quarantine the bad.

For every source file: skip it if ``ingested_files`` says it was read completely with the same
size and mtime/ETag (unless ``force``); otherwise mark it incomplete, read every record
(:mod:`.reader`), validate (:mod:`.validate`), normalise (:func:`to_ecs`, with GeoIP), and buffer
the documents. Batches go to DuckDB in one Arrow insert each, together with the quarantine rows
and the completion marks of the files they finish, in one transaction. A killed run therefore
leaves its unfinished files marked incomplete; the next run re-reads them and the events already
stored count as duplicates instead of being stored twice.

Implementation decisions: a record without ``eventID`` (test fixtures, hand-made exports) gets a
stable synthetic id, ``sha256:`` plus the hash of its canonical JSON, written to ``event.id`` too,
so re-delivery of the same record is still a duplicate. Records over ``max_record_bytes`` (measured
on the ECS document) are quarantined as absurd. Python's garbage collector is paused while a batch
is built: millions of small dicts otherwise trigger collections that slow decoding 2-5x
(LIBRARY_NOTES.md); nothing here creates reference cycles.
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson

from trailspike.core.errors import InputError
from trailspike.core.timeutil import utcnow
from trailspike.ingest.quarantine import QuarantinedRecord, forget_quarantined, quarantine_records
from trailspike.ingest.reader import Entry, read_file
from trailspike.ingest.sources import SourceFile, expand_sources
from trailspike.ingest.validate import check_record
from trailspike.normalise.cloudtrail import format_timestamp, to_ecs
from trailspike.normalise.geo import GeoEnricher
from trailspike.store.events import EventBatch, dig, insert_events


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
    added: int = 0
    stored: int = 0
    quarantined: int = 0
    done: bool = False


def synthetic_event_id(record: Mapping[str, Any]) -> str:
    """A stable id for a record without ``eventID``: the hash of its canonical JSON.

    >>> synthetic_event_id({"b": 1, "a": 2}) == synthetic_event_id({"a": 2, "b": 1})
    True
    """
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()[:40]


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Run:
    """State of one ingest run: the open batch, pending files and the summary."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Mapping[str, Any]) -> None:
        self.con = con
        self.geo = GeoEnricher.from_settings(settings)
        self.batch_size = max(1, int(settings.get("ingest_batch_size", 50000)))
        self.max_bytes = int(settings.get("max_record_bytes", 1 << 20))
        self.summary = IngestSummary()
        self.batch = EventBatch()
        self.bad: list[QuarantinedRecord] = []
        self.files: dict[str, _FileStats] = {}
        self.now = utcnow()
        if self.geo.notice:
            self.summary.notes.append(self.geo.notice)

    # -- per record -------------------------------------------------------------------------
    def _quarantine(self, stats: _FileStats, entry: Entry, reason: str, snippet: str) -> None:
        stats.quarantined += 1
        path = stats.source.path
        self.bad.append(QuarantinedRecord(path, entry.line, entry.index, reason, snippet))

    def _document(self, entry: Entry) -> tuple[dict[str, Any] | None, str]:
        """(ECS document, reason) for an entry; the document is None when it is rejected."""
        if entry.kind == "bad":
            return None, str(entry.payload)
        if entry.kind == "ecs":
            doc: dict[str, Any] = entry.payload
            stamp = format_timestamp(doc.get("@timestamp"))
            if stamp is None:
                return None, "ECS document without a valid @timestamp"
            doc["@timestamp"] = stamp
            if not isinstance(dig(doc, ("event", "id")), str):
                doc.setdefault("event", {})["id"] = synthetic_event_id(doc)
            return doc, ""
        record: dict[str, Any] = entry.payload
        reason = check_record(record)
        if reason:
            return None, reason
        doc = to_ecs(record, self.geo)
        if "id" not in doc["event"]:
            doc["event"]["id"] = synthetic_event_id(record)
        return doc, ""

    def add_entry(self, stats: _FileStats, entry: Entry) -> None:
        stats.records += 1
        doc, reason = self._document(entry)
        if doc is None:
            snippet = entry.snippet or orjson.dumps(entry.payload).decode()[:240]
            self._quarantine(stats, entry, reason, snippet)
            return
        doc_json = orjson.dumps(doc).decode()
        if len(doc_json) > self.max_bytes:
            reason = f"record is {len(doc_json):,} bytes, over max_record_bytes {self.max_bytes:,}"
            self._quarantine(stats, entry, reason, doc_json[:240])
            return
        if self.batch.add(doc, doc_json, stats.source.path, self.now):
            stats.added += 1
        if len(self.batch) >= self.batch_size:
            self.flush()

    # -- per file ---------------------------------------------------------------------------
    def begin_file(self, source: SourceFile, force: bool) -> _FileStats | None:
        """Register a file for reading, or return None when it is already ingested."""
        if source.remembered:
            row = self.con.execute(
                "SELECT size, fingerprint, complete FROM ingested_files WHERE path = ?",
                [source.path],
            ).fetchone()
            if row is not None:
                unchanged = row[0] == source.size and row[1] == source.fingerprint
                if row[2] and unchanged and not force:
                    return None
                forget_quarantined(self.con, source.path)
            self.con.execute(
                "INSERT OR REPLACE INTO ingested_files (path, size, fingerprint, records, stored, "
                "duplicates, quarantined, complete, ingested_at) VALUES (?, ?, ?, 0, 0, 0, 0, "
                "false, ?)",
                [source.path, source.size, source.fingerprint, self.now],
            )
        stats = _FileStats(source)
        self.files[source.path] = stats
        return stats

    def read(self, stats: _FileStats) -> None:
        path = stats.source.path
        try:
            stream = stats.source.open()
            try:
                reader, entries = read_file(stream)
                with _gc_paused():
                    for entry in entries:
                        self.add_entry(stats, entry)
            finally:
                if stats.source.remembered:
                    stream.close()
        except (OSError, InputError) as exc:
            reader = None
            self.summary.damaged_files.append(path)
            self.bad.append(QuarantinedRecord(path, None, None, f"cannot read file: {exc}", ""))
        if reader is not None and reader.damage:
            self.summary.damaged_files.append(path)
            self.bad.append(QuarantinedRecord(path, None, None, reader.damage, ""))
            self.summary.notes.append(f"{path}: {reader.damage}; the records before it were kept")
        stats.done = True

    # -- storing ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Store the batch, the quarantine rows and the completion of finished files."""
        con = self.con
        con.execute("BEGIN")
        try:
            stored = insert_events(con, self.batch)
            quarantine_records(con, self.bad, self.now)
            for path, count in stored.items():
                self.files[path].stored += count
            finished = [s for s in self.files.values() if s.done]
            for stats in finished:
                self._complete(stats)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        for stats in finished:
            del self.files[stats.source.path]
        self.batch = EventBatch()
        self.bad = []

    def _complete(self, stats: _FileStats) -> None:
        summary = self.summary
        duplicates = stats.added - stats.stored
        duplicates += self.batch.within_duplicates.get(stats.source.path, 0)
        summary.files += 1
        summary.records += stats.records
        summary.stored += stats.stored
        summary.duplicates += duplicates
        summary.quarantined += stats.quarantined
        if stats.source.remembered:
            self.con.execute(
                "UPDATE ingested_files SET records = ?, stored = ?, duplicates = ?, "
                "quarantined = ?, complete = true, ingested_at = ? WHERE path = ?",
                [
                    stats.records,
                    stats.stored,
                    duplicates,
                    stats.quarantined,
                    self.now,
                    stats.source.path,
                ],
            )


def _progress_bar(enabled: bool, files: list[SourceFile]) -> Any:
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} files"),
        TextColumn("{task.fields[events]:,} events"),
        TimeRemainingColumn(),
        transient=True,
    )
    bar.add_task("ingest", total=len(files), events=0)
    return bar


def ingest(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[str],
    settings: Mapping[str, Any],
    *,
    force: bool = False,
    progress: bool = False,
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
        ``max_record_bytes``).
    force
        Re-read files that were already ingested completely.
    progress
        Show a rich progress bar (for terminals).

    Returns
    -------
    IngestSummary
        Counts of files, events read, stored, duplicates and quarantined, and the time taken.
    """
    started = time.perf_counter()
    files = expand_sources(sources, settings)
    run = _Run(con, settings)
    bar = _progress_bar(progress, files)
    if bar is not None:
        bar.start()
    try:
        for source in files:
            stats = run.begin_file(source, force)
            if stats is None:
                run.summary.skipped_files += 1
            else:
                run.read(stats)
            if bar is not None:
                bar.update(
                    0,
                    advance=1,
                    events=run.summary.records + sum(s.records for s in run.files.values()),
                )
        run.flush()
    finally:
        if bar is not None:
            bar.stop()
    run.summary.files += run.summary.skipped_files
    run.summary.seconds = time.perf_counter() - started
    return run.summary
