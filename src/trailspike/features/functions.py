"""The detector function registry: what each Elastic function name computes per bucket.

A job's ``"function": "high_distinct_count"`` is looked up in :data:`FUNCTIONS`, an explicit
dict (the pySigma idea), never by ``getattr`` or a string switch. Each :class:`FunctionSpec`
says which per-bucket aggregate to compute, which tail is anomalous, whether the function needs a
``field_name``, and what an empty bucket means.

Implementation decisions: empty buckets follow Elastic (ELASTIC_REFERENCE §4.2): the count family
(``count``, ``high_count``, ``low_count``) sees an empty bucket as 0, while ``non_zero_count``,
the distinct counts and the metric functions skip buckets without data. ``rare`` and
``freq_rare`` are categorical and are modelled per ``by`` value, not as a numeric series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Aggregate = Literal["count", "distinct", "mean", "sum", "min", "max", "rare"]
Side = Literal["high", "low", "both"]
SeriesKind = Literal["count", "metric"]


@dataclass(frozen=True)
class FunctionSpec:
    """What one detector function computes.

    Parameters
    ----------
    name
        The function name as written in a job (``high_distinct_count``).
    aggregate
        The per-bucket aggregate computed in SQL.
    side
        Which tail is anomalous: ``high``, ``low`` or ``both``.
    needs_field
        Whether ``field_name`` is required (it is forbidden otherwise).
    zero_fill
        Whether an empty bucket counts as the value 0 (count family) or is skipped.
    description
        Elastic's ``function_description`` for records (``distinct_count`` for all three
        distinct-count variants).
    """

    name: str
    aggregate: Aggregate
    side: Side
    needs_field: bool
    zero_fill: bool
    description: str

    @property
    def is_rare(self) -> bool:
        """True for the categorical functions ``rare`` and ``freq_rare``.

        >>> FUNCTIONS["rare"].is_rare, FUNCTIONS["count"].is_rare
        (True, False)
        """
        return self.aggregate == "rare"

    @property
    def series_kind(self) -> SeriesKind:
        """``count`` for non-negative integer series, ``metric`` for real-valued ones.

        >>> FUNCTIONS["high_distinct_count"].series_kind, FUNCTIONS["mean"].series_kind
        ('count', 'metric')
        """
        return "count" if self.aggregate in ("count", "distinct", "rare") else "metric"


def _spec(
    name: str, aggregate: Aggregate, side: Side, needs_field: bool, zero_fill: bool, desc: str
) -> tuple[str, FunctionSpec]:
    return name, FunctionSpec(name, aggregate, side, needs_field, zero_fill, desc)


FUNCTIONS: dict[str, FunctionSpec] = dict(
    [
        _spec("count", "count", "both", False, True, "count"),
        _spec("high_count", "count", "high", False, True, "count"),
        _spec("low_count", "count", "low", False, True, "count"),
        _spec("non_zero_count", "count", "both", False, False, "count"),
        _spec("distinct_count", "distinct", "both", True, False, "distinct_count"),
        _spec("high_distinct_count", "distinct", "high", True, False, "distinct_count"),
        _spec("low_distinct_count", "distinct", "low", True, False, "distinct_count"),
        _spec("rare", "rare", "high", False, False, "rare"),
        _spec("freq_rare", "rare", "high", False, False, "rare"),
        _spec("mean", "mean", "both", True, False, "mean"),
        _spec("high_mean", "mean", "high", True, False, "mean"),
        _spec("low_mean", "mean", "low", True, False, "mean"),
        _spec("sum", "sum", "both", True, False, "sum"),
        _spec("high_sum", "sum", "high", True, False, "sum"),
        _spec("low_sum", "sum", "low", True, False, "sum"),
        _spec("min", "min", "low", True, False, "min"),
        _spec("max", "max", "high", True, False, "max"),
    ]
)
"""Every detector function trailspike supports, by the name a job file uses."""


def get_function(name: str) -> FunctionSpec:
    """The spec of function ``name``; ``KeyError`` naming the known ones otherwise.

    >>> get_function("high_count").side
    'high'
    """
    try:
        return FUNCTIONS[name]
    except KeyError:
        known = ", ".join(sorted(FUNCTIONS))
        raise KeyError(f"unknown function {name!r} (known: {known})") from None
