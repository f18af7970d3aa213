"""Influencers: which field values explain an anomalous bucket, and by how much.

For an anomalous series value, each value ``v`` of each influencer field that occurs in the
bucket is tested the way Elastic describes: recompute the feature without ``v``'s events, score
that with the same model, and compare. The influence is ``1 - log p_without / log p`` clipped to
[0, 1]: 1 when the bucket is normal without ``v``, 0 when it is as anomalous. Values with an
influence of at least :data:`INFLUENCE_CUTOFF` (ml-cpp's 0.4) are kept.

What "without v" means depends on the function: for counts, the events of ``v`` are removed;
for distinct counts, the distinct values that only ``v`` contributed are removed (a message
also seen from another ARN still counts); for sums, means, minima and maxima the aggregate is
recomputed over the other events. For ``rare``, where removing a value simply removes the
category, the influence is ``v``'s share of the category's events.

Implementation decisions: only the :data:`MAX_VALUES_PER_FIELD` values with most events are
tested per field, so a bucket with thousands of source addresses stays cheap; the experiments
read one raw slice per detector and bucket (see
:func:`trailspike.features.evidence.bucket_slice`) and run in Python.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import NamedTuple

from trailspike.features.functions import FunctionSpec

INFLUENCE_CUTOFF = 0.4
MAX_VALUES_PER_FIELD = 20


class Influence(NamedTuple):
    """One influencer value and how much it explains an anomaly (0-1). A named tuple, not a
    frozen dataclass: the rare jobs build hundreds of thousands, and a frozen dataclass's
    ``__init__`` cost three times as much."""

    field: str
    value: str
    influence: float


def influence_of(probability: float, probability_without: float) -> float:
    """How much removing a value relieves the anomaly: 1 fully, 0 not at all.

    >>> influence_of(1e-6, 1.0), influence_of(1e-6, 1e-6), round(influence_of(1e-6, 1e-3), 2)
    (1.0, 0.0, 0.5)
    """
    if probability >= 1.0:
        return 0.0
    ratio = math.log(max(probability_without, 1e-300)) / math.log(max(probability, 1e-300))
    return max(0.0, min(1.0, 1.0 - ratio))


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def value_without(
    spec: FunctionSpec, xs: Sequence[str | None], mask: Sequence[bool]
) -> float | None:
    """The feature recomputed over the rows where ``mask`` is False (None: nothing left).

    ``xs`` are the detector field values of the series' rows in the bucket; ``mask`` marks the
    rows of the value being removed.

    >>> from trailspike.features.functions import FUNCTIONS
    >>> value_without(FUNCTIONS["distinct_count"], ["a", "b", "b", "c"], [True, True, False, False])
    2.0
    >>> value_without(FUNCTIONS["count"], ["a", "b"], [True, True])
    0.0
    """
    kept = [x for x, drop in zip(xs, mask, strict=True) if not drop]
    if spec.aggregate in ("count", "rare"):
        return float(len(kept))
    if spec.aggregate == "distinct":
        return float(len({x for x in kept if x is not None})) if kept else None
    numbers = [n for n in (_number(x) for x in kept) if n is not None]
    if not numbers:
        return None
    if spec.aggregate == "sum":
        return math.fsum(numbers)
    if spec.aggregate == "mean":
        return math.fsum(numbers) / len(numbers)
    return min(numbers) if spec.aggregate == "min" else max(numbers)


def find_influencers(
    spec: FunctionSpec,
    probability: float,
    xs: Sequence[str | None],
    columns: Sequence[tuple[str, Sequence[str | None]]],
    rescore: Callable[[float], float],
) -> list[Influence]:
    """Influencer values that explain an anomaly, most influential first.

    ``columns`` pairs each influencer field with its value per row (aligned with ``xs``);
    ``rescore(value)`` is the probability the model gives the series value ``value``.

    >>> from trailspike.features.functions import FUNCTIONS
    >>> xs = ["m1", "m2", "m3", "m4", "m0"]
    >>> arn = ["attacker", "attacker", "attacker", "attacker", "admin"]
    >>> found = find_influencers(FUNCTIONS["high_distinct_count"], 1e-6, xs, [("arn", arn)],
    ...                          lambda v: 1e-6 if v >= 4 else 0.5)
    >>> [(i.value, round(i.influence, 2)) for i in found]
    [('attacker', 0.95)]
    """
    found: list[Influence] = []
    # Many values leave the same feature behind (a distinct count without a value that only
    # repeats others' messages is unchanged): score each once (4,194 -> 426 model calls for
    # the spike job's 68 records on the synthetic 2M store).
    scored: dict[float, float] = {}
    for field, values in columns:
        counts = Counter(v for v in values if v is not None)
        total = sum(counts.values())
        for value, n in counts.most_common(MAX_VALUES_PER_FIELD):
            if spec.is_rare:
                influence = n / total if total else 0.0
            else:
                mask = [v == value for v in values]
                without = value_without(spec, xs, mask)
                if without is None:
                    p_without = 1.0
                elif (p_without := scored.get(without, -1.0)) < 0.0:
                    p_without = scored[without] = rescore(without)
                influence = influence_of(probability, p_without)
            if influence >= INFLUENCE_CUTOFF:
                found.append(Influence(field, value, influence))
    found.sort(key=lambda i: (-i.influence, i.field, i.value))
    return found


def rare_influencers(
    fields: Sequence[str], counts: Sequence[tuple[int, str, int]]
) -> list[Influence]:
    """Influencers of a ``rare`` record from counted events: ``(field index, value, events)``.

    The same as :func:`find_influencers` for ``rare`` (a value's share of the category's events
    per field, kept from :data:`INFLUENCE_CUTOFF`), from counts aggregated in SQL instead of raw
    rows. Only the :data:`MAX_VALUES_PER_FIELD` commonest values of a field are considered, as
    there; a value at or above the cutoff is always among them.

    >>> found = rare_influencers(["user.name", "source.ip"],
    ...                          [(0, "alice", 3), (1, "10.0.0.1", 2), (1, "10.0.0.2", 1)])
    >>> [(i.field, i.value, round(i.influence, 2)) for i in found]
    [('user.name', 'alice', 1.0), ('source.ip', '10.0.0.1', 0.67)]
    """
    totals = Counter[int]()
    for f, _, n in counts:
        totals[f] += n
    found = [
        Influence(fields[f], value, n / totals[f])
        for f, value, n in counts
        if totals[f] and n / totals[f] >= INFLUENCE_CUTOFF
    ]
    found.sort(key=lambda i: (-i.influence, i.field, i.value))
    return found
