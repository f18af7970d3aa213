"""Turn the entries of one file into storable rows and quarantine rows (in-process or in workers).

:func:`process_stream` reads one file (:mod:`.reader`), validates each record
(:mod:`.validate`), normalises it with GeoIP and yields :class:`Chunk` objects of at most
``batch_size`` events as Arrow tables, plus the quarantined records. The same code runs in the
ingesting process and in worker processes (:func:`process_path`), so results do not depend on
how many workers ran. CloudTrail records take the fused fast path
(:func:`trailspike.normalise.fast.fast_event`, document and column values in one pass, collected
in a :class:`ColumnBatch`) unless ``ingest_fast_path`` is off, and a record that repeats a recent
one but for its time, event id and request id is filled in from that record's template
(:mod:`trailspike.normalise.template`); ECS documents and the reference
path use :func:`to_ecs`/:func:`document_for` and :func:`event_row`. Both give equal tables
(tests/ingest/test_fastpath.py, tests/normalise/test_fast.py).

Implementation decisions: a record without ``eventID`` (test fixtures, hand-made exports) gets a
stable synthetic id, ``sha256:`` plus the hash of its canonical JSON, written to ``event.id`` too,
so re-delivery of the same record is still a duplicate. Records whose ECS document is over
``max_record_bytes`` are quarantined as absurd. Python's garbage collector is paused while a file
is decoded: millions of small dicts otherwise trigger collections that slow decoding 2-5x
(LIBRARY_NOTES.md), and nothing here creates reference cycles.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, cast

import orjson
import pyarrow as pa

from trailspike.core.errors import InputError
from trailspike.ingest.quarantine import QuarantinedRecord
from trailspike.ingest.reader import Entry, read_file
from trailspike.ingest.spool import read_table, write_table
from trailspike.ingest.validate import check_record
from trailspike.normalise.cloudtrail import to_ecs
from trailspike.normalise.fast import Row, fast_event
from trailspike.normalise.geo import GeoEnricher
from trailspike.normalise.template import TEMPLATES
from trailspike.normalise.values import before_cloudtrail, format_timestamp
from trailspike.store.events import ColumnBatch, EventBatch, event_row

# Most rows per Arrow table handed to the store. The rows and documents of a chunk are held as
# Python objects until the chunk becomes an Arrow table, so the chunk size bounds a worker's
# working set: on 10k-event benchmark files, 10k-row chunks peaked at ~148 MB private memory per
# worker, 2,500-row chunks at ~97 MB, at no measurable CPU cost (docs/ingest.md).
CHUNK_ROWS = 2500


@dataclass
class Chunk:
    """Part of one file's result: events to insert and records set aside."""

    path: str
    table: pa.Table | None = None
    records: int = 0
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    damage: str | None = None  # set on the last chunk of a damaged file
    spool: str | None = None  # the file a worker wrote ``table`` to (see :mod:`.spool`)


@dataclass(frozen=True)
class Context:
    """What normalising needs besides the data (built once per process)."""

    geo: GeoEnricher
    max_bytes: int
    batch_size: int
    now: datetime
    fast: bool = True  # fused normalising (normalise/fast.py); False: the reference path

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], now: datetime) -> Context:
        return cls(
            GeoEnricher.from_settings(settings),
            int(settings.get("max_record_bytes", 1 << 20)),
            max(1, min(CHUNK_ROWS, int(settings.get("ingest_batch_size", 10000)))),
            now,
            bool(settings.get("ingest_fast_path", True)),
        )


def synthetic_event_id(record: Mapping[str, Any]) -> str:
    """A stable id for a record without ``eventID``: the hash of its canonical JSON.

    >>> synthetic_event_id({"b": 1, "a": 2}) == synthetic_event_id({"a": 2, "b": 1})
    True
    """
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()[:40]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (bulk decoding makes no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Objects on the way to a typed column, and the fields stored in typed text columns as they are.
_ECS_OBJECTS: tuple[tuple[str, ...], ...] = (
    ("event",), ("aws",), ("aws", "cloudtrail"), ("aws", "cloudtrail", "user_identity"),
    ("aws", "cloudtrail", "flattened"), ("user",), ("source",), ("source", "geo"),
    ("source", "as"), ("source", "as", "organization"), ("cloud",), ("cloud", "account"),
    ("user_agent",),
)  # fmt: skip
_ECS_TEXT: tuple[tuple[str, ...], ...] = (
    ("event", "action"), ("event", "provider"), ("event", "outcome"), ("source", "ip"),
    ("source", "geo", "city_name"), ("source", "geo", "country_iso_code"),
    ("source", "as", "organization", "name"),
)  # fmt: skip


def ecs_type_problem(doc: dict[str, Any]) -> str:
    """Why an exported ECS document cannot fill the typed columns, or "".

    Elasticsearch accepts an array (or an object) where the AWS integration writes one string;
    such a document is set aside with the field named rather than stored half-typed.

    >>> ecs_type_problem({"event": {"action": ["a", "b"]}})
    'ECS field event.action must be a string, got list'
    >>> ecs_type_problem({"source": "1.2.3.4"}), ecs_type_problem({"event": {"action": "a"}})
    ('ECS field source must be an object, got str', '')
    """
    for path in _ECS_OBJECTS:
        value = _at(doc, path)
        if value is not None and not isinstance(value, dict):
            return f"ECS field {'.'.join(path)} must be an object, got {type(value).__name__}"
    for path in _ECS_TEXT:
        value = _at(doc, path)
        if value is not None and not isinstance(value, str):
            return f"ECS field {'.'.join(path)} must be a string, got {type(value).__name__}"
    return ""


def _at(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = doc
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def document_for(entry: Entry, geo: GeoEnricher | None) -> tuple[dict[str, Any] | None, str]:
    """(ECS document, "") for a good entry, or (None, reason) for one to quarantine."""
    if entry.kind == "bad":
        return None, str(entry.payload)
    if entry.kind == "ecs":
        doc: dict[str, Any] = entry.payload
        stamp = format_timestamp(doc.get("@timestamp"))
        if stamp is None:
            return None, "ECS document without a valid @timestamp"
        if before_cloudtrail(stamp):
            return None, f"ECS document with @timestamp {stamp} before CloudTrail began (2013)"
        doc["@timestamp"] = stamp
        event = doc.get("event")
        if not isinstance(event, dict):
            event = doc["event"] = {}
        if not isinstance(event.get("id"), str):
            event["id"] = synthetic_event_id(doc)
        return (None, problem) if (problem := ecs_type_problem(doc)) else (doc, "")
    record: dict[str, Any] = entry.payload
    reason = check_record(record)
    if reason:
        return None, reason
    doc = to_ecs(record, geo)
    if "id" not in doc["event"]:
        doc["event"]["id"] = synthetic_event_id(record)
    return doc, ""


def _fast_document(entry: Entry, ctx: Context) -> tuple[bytes | None, Row | None, str]:
    """(encoded document, column values, "") for a good entry, or (None, None, reason).

    CloudTrail records take the fused path, and a repeat of a recent record (but for its time and
    ids) is filled in from that record's template; ECS documents and bad entries take the
    reference path (their column values are then read from the document).
    """
    if entry.kind != "record":
        doc, reason = document_for(entry, ctx.geo)
        if doc is None:
            return None, None, reason
        return orjson.dumps(doc), event_row(doc), reason
    record = entry.payload
    key = TEMPLATES.key(record, ctx.geo) if entry.exact else None
    learn = False
    if key is not None:
        found = TEMPLATES.fill(key, record)
        if isinstance(found, tuple):
            return found[0], found[1], ""
        learn = found
    problem = check_record(record)
    if problem:
        return None, None, problem
    doc, row = fast_event(record, ctx.geo, synthetic_event_id)
    if learn and key is not None:
        TEMPLATES.learn(key, doc, row)
    return orjson.dumps(doc), row, ""


def _snippet_of_payload(payload: Any) -> str:
    """The start of a decoded record for the quarantine table, even one orjson cannot encode."""
    try:
        return orjson.dumps(payload).decode()[:240]
    except TypeError:
        return repr(payload)[:240]


def process_stream(stream: IO[bytes], path: str, ctx: Context) -> Iterator[Chunk]:
    """Chunks of at most ``ctx.batch_size`` events for the file behind ``stream``."""
    reader, entries = read_file(stream)
    chunk = Chunk(path)
    batch: ColumnBatch | EventBatch = ColumnBatch(path, ctx.now) if ctx.fast else EventBatch()
    with gc_paused():
        for entry in entries:
            chunk.records += 1
            row: Row | None = None
            encoded: bytes | None = None
            try:
                if ctx.fast:
                    encoded, row, reason = _fast_document(entry, ctx)
                else:
                    doc, reason = document_for(entry, ctx.geo)
                    if doc is not None:
                        encoded = orjson.dumps(doc)
            except Exception as exc:  # one record's failure must not stop the file
                # Log content is attacker-controlled: whatever a record trips over in the
                # normaliser, it is set aside with the error, and the rest of the file is kept.
                encoded, row, reason = None, None, f"could not be normalised: {exc!r}"[:300]
            if encoded is not None:
                # The limit counts characters; a document within it in UTF-8 bytes is within.
                text = None if len(encoded) <= ctx.max_bytes else encoded.decode()
                if text is None or len(text) <= ctx.max_bytes:
                    if isinstance(batch, ColumnBatch):
                        assert row is not None  # the fast path gives a row with every document
                        batch.add(row, encoded)
                    else:
                        assert doc is not None
                        batch.add(doc, encoded.decode() if text is None else text, path, ctx.now)
                    if len(batch) >= ctx.batch_size:
                        chunk.table = batch.to_arrow()
                        yield chunk
                        chunk = Chunk(path)
                        batch = ColumnBatch(path, ctx.now) if ctx.fast else EventBatch()
                    continue
                reason = f"record is {len(text):,} bytes, over max_record_bytes {ctx.max_bytes:,}"
                snippet = text[:240]
            else:
                snippet = entry.snippet or _snippet_of_payload(entry.payload)
            chunk.quarantined.append(
                QuarantinedRecord(path, entry.line, entry.index, reason, snippet)
            )
    chunk.table = batch.to_arrow() if len(batch) else None
    if reader.damage:
        chunk.damage = reader.damage
        chunk.quarantined.append(QuarantinedRecord(path, None, None, reader.damage, ""))
    yield chunk


# -- worker processes ---------------------------------------------------------------------------
_WORKER: Context | None = None
_WORKER_SETTINGS: Mapping[str, Any] = {}
_SPOOL: str | None = None
_S3_CLIENT: Any = None


def init_worker(
    settings: Mapping[str, Any],
    now: datetime,
    environ: Mapping[str, str] | None = None,
    spool: str | None = None,
) -> None:
    """Pool initializer: build the GeoIP readers once per worker process.

    ``environ`` is the ingesting process's environment (AWS credentials, profile, region):
    a worker forked from a fork server started earlier would otherwise see that server's.
    ``spool`` is the folder the worker writes its tables into (:mod:`.spool`); None sends them
    back pickled.
    """
    global _WORKER, _WORKER_SETTINGS, _SPOOL
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    # What the fork server imported and loaded is shared with it copy-on-write; the cyclic
    # collector would write to every object's header and so copy those pages into this process.
    gc.freeze()
    _WORKER = Context.from_settings(settings, now)
    _WORKER_SETTINGS = settings
    _SPOOL = spool


def _open_in_worker(path: str) -> IO[bytes]:
    """Open a local file or an ``s3://bucket/key`` object (one boto3 client per worker)."""
    global _S3_CLIENT
    if not path.startswith("s3://"):
        return open(path, "rb")  # closed by process_path
    from botocore.exceptions import BotoCoreError, ClientError

    from trailspike.ingest.sources import S3Stream, s3_client, split_s3_url

    if _S3_CLIENT is None:
        _S3_CLIENT = s3_client(_WORKER_SETTINGS)
    bucket, key = split_s3_url(path)
    try:
        body = _S3_CLIENT.get_object(Bucket=bucket, Key=key)["Body"]
    except (BotoCoreError, ClientError) as exc:
        # Re-raised as a plain message: botocore exceptions do not always survive pickling.
        raise InputError(f"cannot read S3 object {path}: {exc}") from None
    return cast(IO[bytes], S3Stream(body, path))


def process_path(path: str) -> list[Chunk]:
    """Worker task: every chunk of one file or S3 object (these are bounded in size).

    With a spool folder, each chunk's table is written there as it is made and the chunk
    carries only its place (:func:`unspool` restores it in the ingesting process).
    """
    assert _WORKER is not None, "init_worker was not run"
    stream = _open_in_worker(path)
    chunks: list[Chunk] = []
    try:
        spool = _SPOOL
        for chunk in process_stream(stream, path, _WORKER):
            if chunk.table is not None and spool is not None:
                try:
                    chunk.spool = write_table(spool, chunk.table)
                except OSError:
                    spool = None  # e.g. /dev/shm is full: this file's other chunks go pickled
                else:
                    chunk.table = None
            chunks.append(chunk)
        return chunks
    except BaseException:
        # The file failed part-way (an S3 read reset): its chunks are never handed over.
        for chunk in chunks:
            if chunk.spool is not None:
                with contextlib.suppress(OSError):
                    os.unlink(chunk.spool)
        raise
    finally:
        stream.close()


def unspool(chunks: list[Chunk]) -> list[Chunk]:
    """Give the chunks of one :func:`process_path` result their tables back (mapped, not copied)."""
    for chunk in chunks:
        if chunk.spool is not None:
            chunk.table, chunk.spool = read_table(chunk.spool), None
    return chunks
