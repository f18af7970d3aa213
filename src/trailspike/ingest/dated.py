"""Which folders of a date-partitioned layout (``…/YYYY/MM/DD/…``) can hold recent files.

CloudTrail writes each file under ``AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/``.
A service that lists the whole trail every five minutes lists every file of every past day again:
a year of one account in 17 regions is ~1.8M objects, ~1,800 S3 requests a cycle. Listing only
the folders dated from a recent day on reads a few folders per region instead; the rest of the
tree is still walked, so files outside dated folders are always found.

A folder counts as dated when the last one to three parts of its path read as a year (4 digits),
then a month and a day (2 digits each, in range). Nothing else is pruned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date


def _date_parts(parts: Sequence[str]) -> tuple[int, ...] | None:
    """The (year[, month[, day]]) that the path's last parts spell, or None.

    >>> _date_parts(["CloudTrail", "us-east-1", "2026", "11"])
    (2026, 11)
    >>> _date_parts(["AWSLogs", "123456789012"]) is None, _date_parts(["2026", "13"]) is None
    (True, True)
    """
    for size in (3, 2, 1):
        tail = list(parts[-size:]) if len(parts) >= size else []
        if not tail or not all(p.isdigit() for p in tail):
            continue
        if [len(p) for p in tail] != [4, 2, 2][:size]:
            continue
        numbers = tuple(int(p) for p in tail)
        if not 1990 <= numbers[0] <= 2200:
            continue
        if size >= 2 and not 1 <= numbers[1] <= 12:
            return None
        if size == 3 and not 1 <= numbers[2] <= 31:
            return None
        return numbers
    return None


def may_hold_since(parts: Sequence[str], since: date) -> bool:
    """Whether the folder with path ``parts`` can hold files dated ``since`` or later.

    >>> since = date(2026, 11, 3)
    >>> day = ["r", "2026", "11"]
    >>> may_hold_since([*day, "02"], since), may_hold_since([*day, "03"], since)
    (False, True)
    >>> may_hold_since(["r", "2025"], since), may_hold_since(["r", "2026", "10"], since)
    (False, False)
    >>> may_hold_since(["AWSLogs", "123456789012", "CloudTrail"], since)
    True
    """
    found = _date_parts(parts)
    if found is None:
        return True
    return found >= (since.year, since.month, since.day)[: len(found)]
