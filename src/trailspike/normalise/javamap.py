"""Render a JSON value the way Java's ``Map.toString()`` does, in ``HashMap`` iteration order.

Elastic's pipeline stores ``aws.cloudtrail.request_parameters`` (and response_elements,
additional_eventdata, service_event_details) as the Java string form of the parsed object, e.g.
``{keyName=mykeypair}``. Users search those strings, and the parity test compares them, so we
reproduce them exactly, key order included.

Implementation decisions: Elasticsearch parses JSON into ``java.util.HashMap``; its iteration
order is the bucket order of the key's ``String.hashCode`` (spread by ``h ^ h >>> 16``) in a table
of 16 slots doubled whenever it is more than three-quarters full, and insertion order within a
bucket. The table size depends on how many keys the map held *before* nulls were dropped (Elastic
drops them after parsing, and a HashMap never shrinks), so callers pass the original object.
Tree bins (8+ keys colliding in one bucket) are not modelled: they do not occur at CloudTrail sizes.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode`` over UTF-16 code units, as a signed 32-bit int.

    >>> java_string_hash("keyName")
    -815643254
    """
    h = 0
    data = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def _table_size(count: int) -> int:
    size = 16
    while count > size * 0.75:
        size *= 2
    return size


def hashmap_order(keys: list[str]) -> list[str]:
    """The order a Java ``HashMap`` filled with ``keys`` (in this order) iterates them.

    Cached per key sequence: CloudTrail repeats the same parameter names per API.

    >>> hashmap_order(["MobileVersion", "LoginTo", "MFAUsed"])
    ['LoginTo', 'MobileVersion', 'MFAUsed']
    """
    return list(_hashmap_order(tuple(keys)))


@lru_cache(maxsize=16384)
def _hashmap_order(keys: tuple[str, ...]) -> tuple[str, ...]:
    size = _table_size(len(keys))

    def bucket(key: str) -> int:
        h = java_string_hash(key) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (size - 1)

    indexed = sorted(enumerate(keys), key=lambda pair: (bucket(pair[1]), pair[0]))
    return tuple(key for _, key in indexed)


def java_double(value: float) -> str:
    """Java's ``Double.toString``: scientific notation outside [1e-3, 1e7).

    >>> java_double(1.5), java_double(1e10), java_double(100.0)
    ('1.5', '1.0E10', '100.0')
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    # Shortest mantissa that reads back as the same double, as Java prints it.
    for precision in range(1, 18):
        mantissa, _, exponent = f"{value:.{precision}e}".partition("e")
        if float(f"{mantissa}e{exponent}") == value:
            break
    return f"{float(mantissa)!r}E{int(exponent)}"


def is_dropped(value: Any) -> bool:
    """Whether Elastic's "drop null/empty values recursively" script removes ``value``.

    >>> is_dropped({"a": None, "b": [""]}), is_dropped({"a": 0})
    (True, False)
    """
    if value is None or value == "":
        return True
    if isinstance(value, dict):
        return all(is_dropped(v) for v in value.values())
    if isinstance(value, list):
        return all(is_dropped(v) for v in value)
    return False


def _render(value: Any) -> str | None:
    """The Java string of ``value``, or None when Elastic would have dropped it."""
    cls = value.__class__
    if cls is str:  # most values are strings: handled without a call of their own
        return value or None
    if cls is dict or isinstance(value, dict):
        parts = []
        for key in _hashmap_order(tuple(value)):
            item = value[key]
            text = (item or None) if item.__class__ is str else _render(item)
            if text is not None:
                parts.append(f"{key}={text}")
        return "{" + ", ".join(parts) + "}" if parts else None
    if cls is list or isinstance(value, list):
        items = [text for text in map(_render, value) if text is not None]
        return "[" + ", ".join(items) + "]" if items else None
    if value is None or value == "":
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def java_to_string(value: Any) -> str:
    """``toString()`` of the Java object Elasticsearch builds from a JSON value.

    Null and empty values are skipped as Elastic's pipeline drops them before rendering, but they
    still count towards the hash table's size, as in Java.

    >>> java_to_string({"keyName": "mykeypair", "n": [1, True, None], "gone": ""})
    '{keyName=mykeypair, n=[1, true]}'
    """
    return _render(value) or ""
