"""Normalise repeated sub-objects of CloudTrail records once: ``userIdentity`` and the Java strings.

A trail repeats itself: every call a role session makes carries the same ``userIdentity``
(``creationDate`` included), and many calls the same ``requestParameters``. The ingest fast path
(:mod:`trailspike.normalise.fast`) looks their normalised form up here by the JSON bytes of the
raw value instead of rebuilding it; the reference path (:func:`trailspike.normalise.cloudtrail.
to_ecs`) does not, and ``tests/normalise/test_fast.py`` checks that both agree byte for byte.

Implementation decisions:

- The key is ``orjson.dumps`` of the raw value. Equal bytes mean an equal value with one
  exception: orjson writes NaN and infinities (which only the stdlib decoder of the salvage path
  can produce) as ``null``, like a real null. Entries whose key contains ``null`` are therefore
  never stored, so such a value can never find another value's entry.
- Bounded, since log content is attacker-controlled: keys over ``KEY_BYTES`` are not memoised
  (the value is normalised as if there were no table), and a table holding ``ENTRIES`` entries
  is emptied before the next is stored. Worst case per process and table: 1,024 keys of 1 KB
  and their values.
- What a hit returns is shared between documents, so it is never changed: the user object and
  the related user names, which later steps extend, are copied per record. The pipeline encodes
  each document at once, as it does with the shared GeoIP and user-agent objects.
- A value seen once costs its key, a look-up and keeping the result on top of the normalising;
  a repeated one saves the null-dropping walk and the mapping. Measured (docs/ingest.md,
  session 5), without the pause below: the demo world (98 % of identities repeat) -20 % CPU per
  record in the worker, the benchmark corpus (every identity unique) +17 %. So a table whose
  look-ups are mostly misses pauses itself (:class:`MemoTable`).
"""

from __future__ import annotations

from typing import Any

import orjson

from trailspike.normalise.cloudtrail import map_identity
from trailspike.normalise.javamap import java_to_string
from trailspike.normalise.values import drop_empty

KEY_BYTES = 1024
ENTRIES = 1024
_TABLES: list[MemoTable] = []  # every table, for :func:`clear`
_MISSING = object()
_SEEN = object()  # an identity seen once: its parts are built when it comes again


def memo_key(value: Any) -> bytes | None:
    """The JSON bytes of ``value`` as a table key, or None when it is not to be memoised.

    >>> memo_key({"a": 1}), memo_key({"a": 1 << 70}), memo_key("x" * 2000)
    (b'{"a":1}', None, None)
    """
    try:
        key = orjson.dumps(value)
    except orjson.JSONEncodeError:  # integers past 64 bits (the stdlib decoder makes them)
        return None
    return key if len(key) <= KEY_BYTES else None


class MemoTable:
    """Bounded key -> value table that stops looking values up while they do not repeat.

    A miss costs more than no table at all (the key, and keeping the result), so after each
    ``WINDOW`` look-ups with too few hits (under ``pause_below`` of them: half for the tables
    here, where a hit saves about what a miss costs) the table is emptied and bypassed for the
    next ``PAUSE`` values, then tried again. Kept entries also cost memory beyond their
    size: long-lived small objects scattered among each record's short-lived ones keep
    pymalloc's arenas from being freed (the benchmark corpus, 2,048 entries per table and a
    20,000-value pause: +20 MB per worker).

    >>> table = MemoTable()
    >>> for n in range(MemoTable.WINDOW):
    ...     _ = table.get(str(n).encode()) or table.put(str(n).encode(), n)
    >>> table.skip()
    True
    """

    WINDOW = 500
    PAUSE = 100_000

    __slots__ = ("entries", "guard_null", "hits", "lookups", "pause_below", "paused")

    def __init__(self, *, guard_null: bool = True, pause_below: float = 0.5) -> None:
        self.entries: dict[bytes, Any] = {}
        self.lookups = self.hits = self.paused = 0
        # False only for keys of values orjson decoded (no NaN: see the module docstring).
        self.guard_null = guard_null
        self.pause_below = pause_below
        _TABLES.append(self)

    def skip(self) -> bool:
        """Whether to normalise the next value without the table."""
        if self.paused:
            self.paused -= 1
            return True
        return False

    def get(self, key: bytes) -> Any:
        """The value stored under ``key``, or None."""
        found = self.entries.get(key)
        self.lookups += 1
        if found is not None:
            self.hits += 1
        if self.lookups >= self.WINDOW:
            if self.hits < self.lookups * self.pause_below:
                self.paused = self.PAUSE
                self.entries.clear()
            self.lookups = self.hits = 0
        return found

    def put(self, key: bytes, value: Any) -> None:
        """Keep ``value`` under ``key`` (not when the key could stand for NaN)."""
        if self.guard_null and b"null" in key:  # NaN and null would share it (module docstring)
            return
        if len(self.entries) >= ENTRIES:
            self.entries.clear()
        self.entries[key] = value


class IdentityParts:
    """A ``userIdentity`` object normalised once: its cleaned form and what it adds to documents.

    ``apply`` makes the changes :func:`~trailspike.normalise.cloudtrail.map_identity` makes to a
    fresh document (same keys, same order) and returns the related user names.
    """

    __slots__ = ("account", "cleaned", "related", "ui", "user")

    def __init__(self, identity: dict[str, Any]) -> None:
        cleaned = drop_empty(identity)
        self.cleaned: dict[str, Any] = cleaned
        doc: dict[str, Any] = {}
        ct: dict[str, Any] = {}
        self.related = tuple(map_identity({"userIdentity": cleaned} if cleaned else {}, doc, ct))
        self.account = doc["cloud"]["account"]["id"] if "cloud" in doc else _MISSING
        self.user: dict[str, Any] | None = doc.get("user")
        self.ui: dict[str, Any] | None = ct.get("user_identity")

    def apply(self, rec: dict[str, Any], doc: dict[str, Any], ct: dict[str, Any]) -> list[str]:
        """What ``map_identity(rec, doc, ct)`` does, for ``rec`` holding this identity."""
        if self.account is not _MISSING:
            doc["cloud"] = {"account": {"id": self.account}}
        if self.user is not None:
            doc["user"] = dict(self.user)  # later steps may add user.target / user.changes
        if self.ui is not None:
            ct["user_identity"] = self.ui
        return list(self.related)


_IDENTITIES = MemoTable()


def identity_parts(identity: dict[str, Any]) -> IdentityParts | None:
    """The normalised parts of a raw ``userIdentity`` object, or None when not memoised.

    An identity's first sighting only notes its key (most unique identities are never seen
    again, and building the parts would cost more than the usual path).

    >>> identity_parts({"type": "IAMUser", "userName": "alice", "arn": ""}) is None  # first
    True
    >>> parts = identity_parts({"type": "IAMUser", "userName": "alice", "arn": ""})
    >>> parts.cleaned, parts.ui, parts.user, parts.related
    ({'type': 'IAMUser', 'userName': 'alice'}, {'type': 'IAMUser'}, {'name': 'alice'}, ('alice',))
    >>> identity_parts({"type": "IAMUser", "userName": "alice", "arn": ""}) is parts
    True
    """
    if _IDENTITIES.skip():
        return None
    key = memo_key(identity)
    if key is None:
        return None
    found = _IDENTITIES.get(key)
    if found is None:  # first seen: normalised as usual, only its key is kept
        _IDENTITIES.put(key, _SEEN)
        return None
    if found is _SEEN:
        found = IdentityParts(identity)
        _IDENTITIES.put(key, found)
    parts: IdentityParts = found
    return parts


_JAVA = MemoTable()


def java_text(value: Any) -> str:
    """``java_to_string(value)``, memoised for objects and arrays.

    >>> java_text({"bucketName": "b", "key": None}), java_text("plain")
    ('{bucketName=b}', 'plain')
    """
    cls = value.__class__
    if (cls is not dict and cls is not list) or _JAVA.skip():
        return java_to_string(value)
    key = memo_key(value)
    if key is None:
        return java_to_string(value)
    text: str | None = _JAVA.get(key)
    if text is None:
        text = java_to_string(value)
        _JAVA.put(key, text)
    return text


def clear() -> None:
    """Forget every table's entries, counts and pause (tests start from a known state)."""
    for table in _TABLES:
        table.entries.clear()
        table.lookups = table.hits = table.paused = 0
