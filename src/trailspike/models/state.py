"""Versioned, checksummed (de)serialisation of model state, and its approximate memory size.

A state blob is ``MAGIC (4 bytes) | format version (2 bytes, big-endian) | SHA-256 of the payload
(32 bytes) | zlib-compressed pickle``. :func:`load_state` refuses blobs with another magic, an
unknown version or a wrong checksum with a :class:`StateError` that says which, so a corrupt
``job_state.state`` row is a clear error instead of a crash deep inside a model.

Implementation decisions: pickle keeps shared references (partitions sharing one population
model) and handles numpy arrays; the blobs are only ever read back by trailspike from its own
store, never from untrusted input. Bump :data:`STATE_VERSION` whenever a model's fields change
incompatibly (persisted identifiers never change silently, as in ml-cpp).
"""

from __future__ import annotations

import hashlib
import pickle
import struct
import sys
import zlib
from typing import Any

import numpy as np

from trailspike.core.errors import TrailspikeError

MAGIC = b"TSMS"
STATE_VERSION = 1
_HEADER = struct.Struct(">4sH32s")


class StateError(TrailspikeError):
    """A persisted model state cannot be read back."""


def restore_attributes(obj: Any, state: dict[str, Any]) -> None:
    """``obj.__dict__.update(state)`` with the names interned, for a custom ``__setstate__``.

    Pickle's default restore interns attribute names; a custom ``__setstate__`` that updates
    ``__dict__`` gets fresh strings instead, and pickle writes a name shared by several objects
    once per distinct string object, so a loaded state dumped again had other bytes than the
    state it came from (a resumed run stored other blobs than an uninterrupted one).

    >>> class A:
    ...     pass
    >>> a = A(); restore_attributes(a, {"".join(["bucket", "_span"]): 1}); a.bucket_span
    1
    """
    obj.__dict__.update({sys.intern(k): v for k, v in state.items()})


def dump_state(obj: Any) -> bytes:
    """Serialise ``obj`` to a versioned, checksummed blob.

    >>> load_state(dump_state({"a": [1, 2]}))
    {'a': [1, 2]}
    """
    payload = zlib.compress(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), 3)
    return _HEADER.pack(MAGIC, STATE_VERSION, hashlib.sha256(payload).digest()) + payload


def load_state(data: bytes) -> Any:
    """Read a blob written by :func:`dump_state`; raise :class:`StateError` if it is damaged.

    >>> load_state(b"garbage")
    Traceback (most recent call last):
    ...
    trailspike.models.state.StateError: model state is truncated (7 bytes)
    """
    if len(data) < _HEADER.size:
        raise StateError(f"model state is truncated ({len(data)} bytes)")
    magic, version, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise StateError("model state has an unknown format (bad magic bytes)")
    if version != STATE_VERSION:
        raise StateError(
            f"model state has format version {version}; this trailspike reads {STATE_VERSION}"
            " (re-run the job from the start to rebuild it)"
        )
    payload = data[_HEADER.size :]
    if hashlib.sha256(payload).digest() != digest:
        raise StateError("model state is corrupt (checksum mismatch)")
    return pickle.loads(zlib.decompress(payload))


def memory_bytes(obj: Any) -> int:
    """Approximate memory held by ``obj`` and everything it references (shared objects once).

    >>> memory_bytes(np.zeros(1000)) >= 8000
    True
    """
    seen: set[int] = set()
    stack = [obj]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            total += item.nbytes + 112
            continue
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)) or type(item).__name__ == "deque":
            stack.extend(item)
        elif hasattr(item, "__dict__"):
            stack.append(vars(item))
    return total
