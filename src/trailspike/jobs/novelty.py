"""Early results of a burst of novelty: count only the new categories seen by each data end.

A ``rare`` record lowered by its partition's burst of new categories
(:class:`trailspike.jobs.detectors.Novelty`) was scored with all ``x`` new categories of the
bucket. Its early result, known from the minute of its own first event, may only count the new
categories whose first event came by then: ``x_k`` of them, so its probability is
``min(alone, P(X >= x_k))`` (``alone`` once fewer than two are known). An early result
therefore never shows more than was known at its data end, and the later categories of a burst
alert from the minute the burst is big enough.

Implementation decisions:

- ``x_k`` counts the partition's *records* of the bucket that are new categories. A new
  category too common to be a record at all is not counted: early results may understate the
  burst, never overstate it.
- Scores are mapped when the record is queued, against the normaliser before the bucket, for
  every possible ``x_k`` (:func:`score_options`); the choice is made once the first events are
  known (at flush, in history runs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from trailspike.jobs.detectors import Novelty, Scored
from trailspike.models.normalizer import ScoreNormalizer
from trailspike.models.rare import MIN_BURST


def burst_probability(novelty: Novelty, known: int) -> float:
    """The probability of a record when ``known`` new categories of its burst are known.

    >>> n = Novelty(alone=1e-3, tail=(1.0, 0.1, 1e-4, 1e-7))
    >>> burst_probability(n, 1), burst_probability(n, 2), burst_probability(n, 3)
    (0.001, 0.0001, 1e-07)
    """
    known = min(known, len(novelty.tail) - 1)
    if known < MIN_BURST:
        return novelty.alone
    return min(novelty.alone, novelty.tail[known])


def score_options(normalizer: ScoreNormalizer, scored: Scored) -> tuple[float, ...] | None:
    """The record's score for each possible number of known new categories, or None when it
    is not part of a burst."""
    novelty = scored.novelty
    if novelty is None:
        return None
    probabilities = [burst_probability(novelty, x) for x in range(len(novelty.tail))]
    scores = normalizer.normalize_many(probabilities, [scored.confidence] * len(probabilities))
    return tuple(float(v) for v in scores)


def known_by(items: Sequence[tuple[Scored, datetime]]) -> list[int]:
    """Per early record (its result and data end): how many new categories of its partition's
    burst had been seen by its data end (0 for records outside a burst).

    >>> n = Novelty(1e-3, (1.0, 0.5, 0.1, 0.01))
    >>> a = Scored(0, ("erin", "GetSecretValue", ""), 1.0, 0.01, 1.0, novelty=n)
    >>> b = replace(a, key=("erin", "ListKeys", ""))
    >>> c = replace(a, key=("bob", "Decrypt", ""))
    >>> t = datetime(2026, 1, 1, 13, 42)
    >>> known_by([(a, t), (b, t.replace(minute=50)), (c, t)])
    [1, 2, 1]
    """
    groups: dict[tuple[int, str, str], list[datetime]] = defaultdict(list)
    for scored, end in items:
        if scored.novelty is not None:
            groups[_partition(scored)].append(end)
    return [
        sum(1 for other in groups[_partition(s)] if other <= end) if s.novelty is not None else 0
        for s, end in items
    ]


def early_result(scored: Scored, options: tuple[float, ...], known: int) -> tuple[Scored, float]:
    """The early record's result and score once ``known`` new categories are known."""
    assert scored.novelty is not None
    known = min(known, len(options) - 1)
    return replace(scored, probability=burst_probability(scored.novelty, known)), options[known]


def _partition(scored: Scored) -> tuple[int, str, str]:
    return (scored.detector_index, scored.key[0], scored.key[2])
