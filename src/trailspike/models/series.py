"""The per-series model: decomposition + residual distribution + multi-bucket view.

:class:`TimeSeriesModel` implements :class:`~trailspike.models.base.SeriesModel`. For each bucket
it predicts a baseline (level, trend, daily and weekly seasonality: :mod:`.decomposition`), scores
the value against the residual distribution that has the most evidence (:mod:`.priors`) with a
one- or two-sided tail, and scores the mean of the last :data:`MULTI_BUCKET_LENGTH` residuals
against its own learnt distribution, so a sustained rise scores even when no single bucket is
extreme (Elastic's multi-bucket impact).

Implementation decisions:

- Old behaviour fades with a half-life of :data:`HALF_LIFE` (one week) of time, not of buckets,
  so jobs with different bucket spans forget at the same pace.
- Learning weights fall as ``(3/z)^2`` beyond three standard deviations, so a burst is scored but
  only slowly learnt; a real level shift (most of the last buckets far on one side) is accepted
  by jumping the level, so the model recovers in about :data:`MULTI_BUCKET_LENGTH` buckets.
- Confidence grows with history and reaches 1 after :data:`FULL_CONFIDENCE_TIME` (two days, at
  least 24 buckets); scores are capped by it in :mod:`.normalizer`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from trailspike.models.base import BucketScore, SeriesKind, Side
from trailspike.models.decomposition import Decomposition
from trailspike.models.priors import Moments, ResidualModel, normal_sf

MULTI_BUCKET_LENGTH = 12
HALF_LIFE = 7 * 86400.0
FULL_CONFIDENCE_TIME = 2 * 86400.0
OUTLIER_Z = 3.0
SHIFT_Z = 3.0
MIN_WEIGHT = 0.01


def side_probability(lower: float, upper: float, side: Side) -> float:
    """Tail probability for a side: one-sided for high/low, two-sided for both.

    >>> side_probability(0.99, 0.01, "high"), side_probability(0.99, 0.01, "low")
    (0.01, 0.99)
    >>> side_probability(0.99, 0.01, "both")
    0.02
    """
    if side == "high":
        return upper
    if side == "low":
        return lower
    return min(1.0, 2.0 * min(lower, upper))


def combine_probabilities(single: float, multi: float) -> float:
    """Probability that either view is this extreme (the smaller, corrected for two looks).

    >>> round(combine_probabilities(0.01, 0.5), 4)
    0.0199
    >>> combine_probabilities(1.0, 1.0)
    1.0
    """
    smallest = min(single, multi)
    return max(1e-300, 1.0 - (1.0 - smallest) ** 2) if smallest < 1.0 else 1.0


def multi_bucket_impact(single: float, multi: float) -> float:
    """Elastic's -5..+5 share of the anomaly due to the multi-bucket view.

    >>> multi_bucket_impact(1e-9, 1.0), multi_bucket_impact(1.0, 1e-9)
    (-5.0, 5.0)
    """
    ls, lm = -math.log(max(single, 1e-300)), -math.log(max(multi, 1e-300))
    top = max(ls, lm)
    if top <= 0.0:
        return -5.0
    return max(-5.0, min(5.0, 5.0 * (lm - ls) / top))


@dataclass
class TimeSeriesModel:
    """One numeric series sampled once per bucket (counts or metrics)."""

    kind: SeriesKind
    side: Side
    bucket_span: float
    decomposition: Decomposition = field(init=False)
    residuals: ResidualModel = field(init=False)
    recent: deque[float] = field(init=False)
    multi: Moments = field(default_factory=Moments)
    n: int = 0
    first_t: float | None = None
    last_t: float | None = None

    def __post_init__(self) -> None:
        if self.bucket_span <= 0:
            raise ValueError("bucket_span must be positive")
        self.decomposition = Decomposition(self.bucket_span)
        self.residuals = ResidualModel(is_count=self.kind == "count")
        self.recent = deque(maxlen=MULTI_BUCKET_LENGTH)

    # ------------------------------------------------------------------ scoring
    def confidence(self, t: float) -> float:
        """0..1: how much history backs the model at ``t``."""
        if self.first_t is None:
            return 0.0
        span = max(FULL_CONFIDENCE_TIME, 24 * self.bucket_span)
        by_time = (t - self.first_t) / span
        by_count = self.n / 24.0
        return max(0.0, min(1.0, by_time, by_count))

    def score_one(self, t: float, value: float) -> BucketScore:
        """Score ``value`` for the bucket at ``t`` against what has been learnt so far."""
        if self.n == 0 or not math.isfinite(value):
            return BucketScore(1.0, value, value, value, confidence=0.0)
        baseline = self.decomposition.baseline(t)
        res = self.residuals
        name = res.best()
        lower, upper = res.tails(name, value, baseline)
        single = side_probability(lower, upper, self.side) if self.n >= 2 else 1.0
        multi = self._multi_probability(value - baseline)
        typical = res.quantile(name, 0.5, baseline)
        lo = res.quantile(name, 0.025, baseline)
        hi = res.quantile(name, 0.975, baseline)
        if self.kind == "count":
            typical, lo = max(typical, 0.0), max(lo, 0.0)
        return BucketScore(
            probability=combine_probabilities(single, multi),
            typical=typical,
            lower=lo,
            upper=max(hi, lo),
            multi_bucket_impact=multi_bucket_impact(single, multi),
            single_bucket_probability=single,
            multi_bucket_probability=multi,
            confidence=self.confidence(t),
        )

    def _multi_probability(self, residual: float) -> float:
        if self.multi.n < MULTI_BUCKET_LENGTH or len(self.recent) < MULTI_BUCKET_LENGTH - 1:
            return 1.0
        window = [*list(self.recent)[-(MULTI_BUCKET_LENGTH - 1) :], residual]
        feature = sum(window) / len(window)
        floor = self.residuals.sd() / math.sqrt(MULTI_BUCKET_LENGTH)
        sd = max(math.sqrt(self.multi.var), floor)
        z = (feature - self.multi.mean) / sd
        return side_probability(1.0 - normal_sf(z), normal_sf(z), self.side)

    # ----------------------------------------------------------------- learning
    def _weight(self, residual: float) -> float:
        """Learning weight: 1 inside three sd, falling as (3/z)^2 beyond."""
        if self.n < 12:
            return 1.0
        z = abs(residual - self.residuals.moments.mean) / self.residuals.sd()
        return 1.0 if z <= OUTLIER_Z else max(MIN_WEIGHT, (OUTLIER_Z / z) ** 2)

    def learn_one(self, t: float, value: float) -> None:
        """Learn ``value`` for the bucket at ``t`` (call after :meth:`score_one`)."""
        if not math.isfinite(value):
            return
        if self.first_t is None:
            self.first_t = t
        steps = 1.0 if self.last_t is None else max((t - self.last_t) / self.bucket_span, 1.0)
        decay = 0.5 ** (steps * self.bucket_span / HALF_LIFE)
        if self.n > 0:
            baseline = self.decomposition.baseline(t)
            residual = value - baseline
            w = self._weight(residual)
            self.residuals.score_evidence(value, baseline, decay)
            self.residuals.learn(value, baseline, w, decay)
            self._learn_multi(residual, w, decay)
        else:
            w = 1.0
        self.decomposition.learn(t, value, w, decay)
        self.n += 1
        self.last_t = t
        self._check_level_shift()

    def _learn_multi(self, residual: float, w: float, decay: float) -> None:
        self.recent.append(residual)
        if len(self.recent) == MULTI_BUCKET_LENGTH:
            self.multi.decay(decay)
            self.multi.add(sum(self.recent) / MULTI_BUCKET_LENGTH, w)

    def _check_level_shift(self) -> None:
        """Jump the level when most recent buckets sit far on one side of the baseline."""
        if self.n < 2 * MULTI_BUCKET_LENGTH or len(self.recent) < MULTI_BUCKET_LENGTH:
            return
        mean, sd = self.residuals.moments.mean, self.residuals.sd()
        zs = [(r - mean) / sd for r in self.recent]
        need = int(0.75 * MULTI_BUCKET_LENGTH)
        for sign in (1.0, -1.0):
            far = [z for z in zs if sign * z > SHIFT_Z]
            if len(far) >= need and sign * zs[-1] > SHIFT_Z:
                shifted = sorted(r - mean for r in self.recent)
                delta = shifted[len(shifted) // 2]
                self.decomposition.shift_level(delta)
                self.recent = deque((r - delta for r in self.recent), maxlen=MULTI_BUCKET_LENGTH)
                return
