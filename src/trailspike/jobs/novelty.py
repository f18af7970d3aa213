"""Early results of a burst of novelty: count only the new categories seen by each data end.

A ``rare`` record of a category new to its partition, in a bucket with a burst of new categories
(:class:`trailspike.jobs.detectors.Novelty`), was scored with all ``x`` new categories of the
bucket (:func:`trailspike.models.rare.burst_probability`). Its early result, known from the
minute of its own first event, may only use the new categories whose first event came by then,
so the later categories of a burst alert from the minute the burst is big enough, and an early
result never shows more than was known at its data end.

Implementation decisions:

- The early count uses the partition's *records* of the bucket that are new categories. A new
  category too common to be a record is left out, so an early result is also never allowed a
  smaller probability than the result it was queued with (the whole bucket's in history, the
  data so far in a live run): early results may understate a burst, never overstate it.
- Early scores are mapped with a copy of the normaliser as it was before the bucket (what a
  live run would have used); the choice is made once the first events are known (at flush, in
  history runs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from trailspike.jobs.detectors import Scored
from trailspike.models.novelty import burst_probability


def known_surprises(items: Sequence[tuple[Scored, datetime]]) -> list[list[float]]:
    """Per early record (its result and data end): the surprises of its partition's new
    categories seen by its data end, itself included (empty outside a burst).

    >>> from trailspike.jobs.detectors import Novelty
    >>> n = Novelty(1e-3, 0.5, (1.0, 0.5, 0.1, 0.01), 1e-6)
    >>> a = Scored(0, ("erin", "GetSecretValue", ""), 1.0, 0.01, 1.0, novelty=n)
    >>> b = replace(a, key=("erin", "ListKeys", ""), novelty=replace(n, surprise=0.25))
    >>> c = replace(a, key=("bob", "Decrypt", ""))
    >>> t = datetime(2026, 1, 1, 13, 42)
    >>> known_surprises([(a, t), (b, t.replace(minute=50)), (c, t)])
    [[0.5], [0.5, 0.25], [0.5]]
    """
    groups: dict[tuple[int, str, str], list[tuple[datetime, float]]] = defaultdict(list)
    for scored, end in items:
        if scored.novelty is not None:
            groups[_partition(scored)].append((end, scored.novelty.surprise))
    return [
        [c for other, c in groups[_partition(s)] if other <= end] if s.novelty is not None else []
        for s, end in items
    ]


def early_result(scored: Scored, surprises: list[float]) -> Scored:
    """The early record's result with the burst's ``surprises`` known by its data end: its
    probability (never below the one it was queued with) and the burst it rests on.

    >>> from trailspike.jobs.detectors import Novelty
    >>> n = Novelty(1e-3, 0.1, (1.0, 0.5, 1e-2, 1e-3), 1e-9)
    >>> s = Scored(0, ("erin", "ListKeys", ""), 1.0, 1e-6, 1.0, novelty=n)
    >>> early_result(s, [0.1]).probability  # the first new method: its own probability
    0.001
    >>> two = early_result(s, [0.1, 0.1])
    >>> 1e-6 < two.probability < 1e-3, two.novelty.count
    (True, 2)
    """
    novelty = scored.novelty
    if novelty is None:
        return scored
    burst = burst_probability(np.array(novelty.tail), np.array(surprises), novelty.floor)
    known = replace(novelty, count=len(surprises), burst=burst)
    probability = max(scored.probability, min(novelty.alone, burst))
    return replace(scored, probability=probability, novelty=known)


def _partition(scored: Scored) -> tuple[int, str, str]:
    return (scored.detector_index, scored.key[0], scored.key[2])
