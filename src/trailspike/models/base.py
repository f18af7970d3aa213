"""The contracts every model keeps, so jobs can swap and compose them.

Implementation decisions: the river idea of a two-method protocol, with fixed return types from
day one. Time is passed as seconds since the Unix epoch (float) so models stay free of datetime
handling; values are floats. A model must be picklable: its state is persisted between runs by
:mod:`trailspike.models.state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Side = Literal["high", "low", "both"]
"""Which tail is anomalous: ``high_*`` functions, ``low_*`` functions, or both."""

SeriesKind = Literal["count", "metric"]
"""Counts (event counts, distinct counts: non-negative integers) or real-valued metrics."""


@dataclass(frozen=True)
class BucketScore:
    """How surprising one bucket's value is, and what the model expected.

    ``probability`` is the final probability of a value at least this extreme (single bucket and
    multi-bucket views combined), in (0, 1]. ``typical`` is the model's median for the bucket;
    ``lower``/``upper`` its 95 % bounds. ``multi_bucket_impact`` runs from -5 (the single bucket
    alone explains the anomaly) to +5 (only the run of recent buckets does), as in Elastic.
    """

    probability: float
    typical: float
    lower: float
    upper: float
    multi_bucket_impact: float = -5.0
    single_bucket_probability: float = 1.0
    multi_bucket_probability: float = 1.0
    confidence: float = 1.0  # 0..1: how much history backs the model (caps scores early on)
    # The value repeats the last ``repeated_buckets`` buckets exactly, as likely as this
    # (:mod:`trailspike.models.repeats`; 1.0 and 0 where not judged).
    repeat_probability: float = 1.0
    repeated_buckets: int = 0


class SeriesModel(Protocol):
    """A model of one numeric series sampled once per bucket."""

    def score_one(self, t: float, value: float) -> BucketScore:
        """Score ``value`` observed in the bucket starting at ``t`` (before learning it)."""
        ...

    def learn_one(self, t: float, value: float) -> None:
        """Update the model with ``value`` observed in the bucket starting at ``t``."""
        ...


class RareModel(Protocol):
    """A model of which categories (``by`` values) occur, for ``rare`` and ``freq_rare``."""

    def score_bucket(self, t: float, counts: dict[str, int]) -> dict[str, float]:
        """Probability of seeing each category of this bucket as rarely as it has been seen.

        ``counts`` maps each category present in the bucket to its event count. Returns a
        probability in (0, 1] per category; small means rare.
        """
        ...

    def learn_bucket(self, t: float, counts: dict[str, int]) -> None:
        """Record the categories seen in the bucket starting at ``t``."""
        ...
