"""Whole records normalised once: repeats that differ only in their time, event id and request id.

A trail repeats itself: a scheduled job or a service polling an API writes the same record every
few seconds, apart from ``eventTime``, ``eventID`` and ``requestID``. The ingest fast path looks
such a record up here by the JSON bytes of everything else, and writes its stored row from the
template of an earlier one: the encoded document cut where those three values go, and the column
values that do not depend on them. Nothing is validated, mapped or encoded again.
``tests/normalise/test_fast.py`` checks the result byte for byte against the reference path.

Implementation decisions:

- Why only those three: the document depends on them in exactly one place each (``@timestamp``,
  ``event.id``, ``aws.cloudtrail.request_id``), as do the columns (``ts`` and ``event_id``), and
  validation only on ``eventTime`` being a time and not before CloudTrail began (both checked on
  every hit) and ``eventID`` being a string: any check validation adds on those three must be added
  to :meth:`TemplateTable.fill` too. A record qualifies when all three are non-empty strings (so
  each is in the document), and only when orjson decoded it
  (:attr:`trailspike.ingest.reader.Entry.exact`): orjson rejects NaN and infinities, so equal bytes
  mean equal values; the salvage path's stdlib decoder accepts NaN, which ``orjson.dumps`` would
  write as ``null`` like a real null.
- Measured on a 4-day demo world (219,794 records), 92 % of records are such repeats of one of the
  last 1,024 distinct ones; on the benchmark corpus, none (its generator makes every identity
  unique), and the table pauses itself as the other memo tables do (:class:`MemoTable`), but
  only below one hit in eight look-ups: a miss costs its key (a copy of the record and its
  encoding, ~2 µs), a hit saves validation, mapping and encoding (~20 µs).
- A record's first sighting only stores its key (most unique records are never seen again); the
  template is cut from the second sighting's document. Bounded, since log content is
  attacker-controlled: keys over ``KEY_BYTES`` and documents over ``DOCUMENT_BYTES`` are not
  kept, and at most ``ENTRIES`` per process (worst case ~13 MB, typically ~3 MB).
"""

from __future__ import annotations

from typing import Any

import orjson

from trailspike.normalise.memo import ENTRIES, MemoTable
from trailspike.normalise.values import before_cloudtrail, format_timestamp

KEY_BYTES = 4096
DOCUMENT_BYTES = 8192
Row = tuple[Any, ...]
_SEEN = object()  # a record seen once: its template is made when it comes again
_UNCUT = object()  # a record whose document gave no template (too large, or holds a mark)
# Stand-ins written where the three values go, then cut out of the encoded template. A document
# that contains one elsewhere (they are valid strings, so input can) gets no template.
_TIME_MARK = "\x00trailspike:@timestamp\x00"
_ID_MARK = "\x00trailspike:event.id\x00"
_REQUEST_MARK = "\x00trailspike:request_id\x00"
_MARKS = tuple(orjson.dumps(mark) for mark in (_TIME_MARK, _ID_MARK, _REQUEST_MARK))


class Template:
    """A record's encoded document in four pieces around its three values, and its other columns."""

    __slots__ = ("pieces", "tail")

    def __init__(self, pieces: tuple[bytes, bytes, bytes, bytes], tail: Row) -> None:
        self.pieces = pieces
        self.tail = tail

    def fill(self, timestamp: str, event_id: str, request_id: str) -> tuple[bytes, Row]:
        """The encoded document and column values of a record with these three values."""
        first, second, third, last = self.pieces
        encoded = b"".join(
            (
                first,
                orjson.dumps(timestamp),
                second,
                orjson.dumps(event_id),
                third,
                orjson.dumps(request_id),
                last,
            )
        )
        return encoded, (timestamp, event_id, *self.tail)


def template_of(doc: dict[str, Any], row: Row) -> Template | None:
    """The template of a fast-path document and row, or None when it cannot be cut exactly.

    >>> doc = {"@timestamp": "t", "event": {"id": "e"}, "aws": {"cloudtrail": {"request_id": "r"}}}
    >>> template = template_of(doc, ("t", "e", "x"))
    >>> encoded, row = template.fill("T", "E", "R")
    >>> encoded
    b'{"@timestamp":"T","event":{"id":"E"},"aws":{"cloudtrail":{"request_id":"R"}}}'
    >>> row
    ('T', 'E', 'x')
    """
    marked = dict(doc)
    event = dict(marked["event"])
    cloudtrail = dict(marked["aws"]["cloudtrail"])
    if "@timestamp" not in marked or "id" not in event or "request_id" not in cloudtrail:
        return None
    # Assigning to existing keys keeps their places, so the marks sit where the values were.
    marked["@timestamp"] = _TIME_MARK
    event["id"] = _ID_MARK
    marked["event"] = event
    cloudtrail["request_id"] = _REQUEST_MARK
    marked["aws"] = {**marked["aws"], "cloudtrail": cloudtrail}
    rest = orjson.dumps(marked)
    if len(rest) > DOCUMENT_BYTES:
        return None
    pieces: list[bytes] = []
    for mark in _MARKS:
        if rest.count(mark) != 1:
            return None
        before, _, rest = rest.partition(mark)
        pieces.append(before)
    if any(mark in piece for mark in _MARKS for piece in (*pieces, rest)):
        return None
    first, second, third = pieces
    return Template((first, second, third, rest), row[2:])


class TemplateTable:
    """Templates by the JSON bytes of a record without its time, event id and request id."""

    __slots__ = ("geo", "table")

    def __init__(self) -> None:
        # Keys may hold ``null``: only records decoded by orjson (no NaN) come here. A hit saves
        # ~10x what a miss costs (the key), so the table pauses only below 1 hit in 8 look-ups.
        self.table = MemoTable(guard_null=False, pause_below=0.125)
        self.geo: object = None

    def key(self, record: dict[str, Any], geo: object) -> bytes | None:
        """The record's key, or None when it does not qualify or the table is paused.

        ``geo`` is the GeoIP enricher the documents are made with: the templates hold its
        results, so another one (a new ingest run in the same process) empties the table.
        """
        if geo is not self.geo:
            self.table.entries.clear()
            self.geo = geo
        time, event_id, request_id = (
            record.get("eventTime"),
            record.get("eventID"),
            record.get("requestID"),
        )
        if not (
            time.__class__ is str
            and event_id.__class__ is str
            and request_id.__class__ is str
            and event_id
            and request_id
        ):
            return None
        if self.table.skip():
            return None
        rest = dict(record)
        del rest["eventTime"], rest["eventID"], rest["requestID"]
        try:
            key = orjson.dumps(rest)
        except orjson.JSONEncodeError:  # integers past 64 bits cannot be keys
            return None
        return key if len(key) <= KEY_BYTES else None

    def fill(self, key: bytes, record: dict[str, Any]) -> tuple[bytes, Row] | bool:
        """The document and row of ``record`` from its template; else whether to :meth:`learn`.

        False as well when ``eventTime`` is not a time validation accepts: the record then takes
        the usual path, whose validation gives the quarantine reason.
        """
        found = self.table.get(key)
        if found is None:  # first seen: normalised as usual, only its key is kept
            self.table.put(key, _SEEN)
            return False
        if found is _SEEN:
            return True
        if found is _UNCUT:
            return False
        timestamp = format_timestamp(record["eventTime"])
        if timestamp is None or before_cloudtrail(timestamp):
            return False
        template: Template = found
        return template.fill(timestamp, record["eventID"], record["requestID"])

    def learn(self, key: bytes, doc: dict[str, Any], row: Row) -> None:
        """Keep the template of a record seen before, from its fast-path document and row."""
        template = template_of(doc, row)
        self.table.put(key, _UNCUT if template is None else template)


TEMPLATES = TemplateTable()
assert ENTRIES * (KEY_BYTES + DOCUMENT_BYTES) <= 13 * 2**20  # the bound in the module docstring
