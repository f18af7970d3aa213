"""Probability → raw score → 0-100 score against a job's own history (Elastic's normaliser).

A probability becomes a raw score ``-log10(p)`` (0 when ``p`` exceeds
:data:`MAX_ANOMALOUS_PROBABILITY`, as in ml-cpp). :class:`ScoreNormalizer` keeps an aged histogram
of the raw scores it has observed and maps a raw score to 0-100 as the **minimum** of:

1. its historical percentile passed through Elastic's knot points :data:`KNOT_POINTS`;
2. the max-ratio ceiling ``100 * min(1.5 r, 0.5 + 0.5 r)``, ``r = raw / max raw seen``, the
   maximum aged by :data:`MAX_DECAY_PER_BUCKET` a bucket as ml-cpp ages it (at twice its default
   decay rate of 0.0005 a bucket: a half-life of about 700 buckets), so one early shock, e.g. a
   new seasonal profile's first misfits, does not cap every later anomaly for good;
3. a cap from the probability itself, log-interpolated through :data:`CAP_KNOTS`: 0 at
   :data:`MAX_ANOMALOUS_PROBABILITY`, 50 at :data:`ALERT_PROBABILITY`, 100 at
   :data:`FULL_SCORE_PROBABILITY`. Elastic's cap runs log-linearly from 0.05 to 1e-4, so
   p ~ 2e-3 may already reach 50; ours is released at the same 1e-4 but bends so that 50
   needs ``p <= 1.5e-4``: the percentile map gives the top 1 % of *any* history a 50, even in
   a quiet series whose top 1 % is ordinary noise, and the NAB series (single-bucket tails
   measured calibrated) put about one benign bucket in 7 000 below 1.5e-4. Beyond the alert
   evidence the history (percentile, max ratio) ranks anomalies, as in Elastic;
4. ``100 * confidence``: the series model's confidence (low while it has little history).

Re-normalisation: :meth:`ScoreNormalizer.normalize` is a pure function of the current history, so
calling it again on a stored probability (and confidence) gives the new ``record_score``; the
``initial_record_score`` is the value returned when the record was first written.
:meth:`ScoreNormalizer.renormalization_due` says when the maximum raw score has grown by more
than :data:`BIG_CHANGE_FACTOR` since the last :meth:`mark_renormalized`.

Implementation decisions: the histogram has fixed bins of :data:`BIN_WIDTH` in ``-log10 p`` up to
:data:`MAX_RAW` (p = 1e-100), so memory is constant and a percentile is one cumulative sum.
Ageing is done by growing the weight of new observations (no per-observation pass over the
array); the weights are rescaled before they overflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

KNOT_POINTS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (70.0, 1.0),
    (85.0, 1.2),
    (90.0, 1.5),
    (95.0, 3.0),
    (97.0, 20.0),
    (99.0, 50.0),
    (99.9, 90.0),
    (100.0, 100.0),
)
MAX_ANOMALOUS_PROBABILITY = 0.035
ALERT_PROBABILITY = 1.5e-4
FULL_SCORE_PROBABILITY = 1e-4
CAP_KNOTS: tuple[tuple[float, float], ...] = (
    (-math.log10(MAX_ANOMALOUS_PROBABILITY), 0.0),
    (-math.log10(ALERT_PROBABILITY), 50.0),
    (-math.log10(FULL_SCORE_PROBABILITY), 100.0),
)
"""The probability cap, piecewise linear in ``-log10 p``: a score of 50 (the alert threshold)
needs ``p <= ALERT_PROBABILITY``, which a calibrated model gives about once in 7 000 benign
buckets; above that the cap is released quickly (100 at ``FULL_SCORE_PROBABILITY``, where
Elastic's cap also ends) and the job's history ranks the anomaly."""
BIG_CHANGE_FACTOR = 1.1
BIN_WIDTH = 0.05
MAX_RAW = 100.0
N_BINS = int(MAX_RAW / BIN_WIDTH) + 1
DEFAULT_HALF_LIFE = 100_000.0  # observations
MAX_DECAY_PER_BUCKET = 0.001


def raw_score(probability: float) -> float:
    """``-log10(p)``, or 0 when ``p`` is not anomalous at all.

    >>> raw_score(0.5), raw_score(1e-3)
    (0.0, 3.0)
    """
    if not probability < MAX_ANOMALOUS_PROBABILITY:
        return 0.0
    return min(MAX_RAW, -math.log10(max(probability, 1e-300)))


def knot_score(percentile: float) -> float:
    """Map a percentile (0-100) of raw-score history to a score through :data:`KNOT_POINTS`.

    >>> knot_score(99.0), knot_score(98.0), knot_score(100.0)
    (50.0, 35.0, 100.0)
    """
    xs = [k[0] for k in KNOT_POINTS]
    ys = [k[1] for k in KNOT_POINTS]
    return float(np.interp(percentile, xs, ys))


def probability_cap(probability: float) -> float:
    """Highest score a probability may reach, whatever the history (:data:`CAP_KNOTS`).

    >>> probability_cap(0.05), probability_cap(1e-4), probability_cap(1.5e-4)
    (0.0, 100.0, 50.0)
    >>> round(probability_cap(1e-3), 1)
    32.6
    """
    return float(_cap_many(np.array([probability]))[0])


def _cap_many(probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    raw = -np.log10(np.maximum(probabilities, 1e-300))
    xs = np.array([k[0] for k in CAP_KNOTS])
    ys = np.array([k[1] for k in CAP_KNOTS])
    out: npt.NDArray[np.float64] = np.interp(raw, xs, ys, left=0.0, right=100.0)
    return out


def severity(score: float) -> str:
    """Kibana's severity band of a 0-100 score.

    >>> severity(80), severity(50), severity(30), severity(3), severity(1)
    ('critical', 'major', 'minor', 'warning', 'low')
    """
    if score >= 75:
        return "critical"
    if score >= 50:
        return "major"
    if score >= 25:
        return "minor"
    if score >= 3:
        return "warning"
    return "low"


def _bin(raw: float) -> int:
    return min(N_BINS - 1, int(raw / BIN_WIDTH))


@dataclass
class ScoreNormalizer:
    """Aged history of raw scores and the 0-100 mapping against it.

    >>> norm = ScoreNormalizer()
    >>> for _ in range(990):
    ...     norm.observe(0.5)
    >>> for _ in range(10):
    ...     norm.observe(1e-5)
    >>> norm.normalize(1e-5) >= 50.0, norm.normalize(1e-3) < 50.0, norm.normalize(0.2)
    (True, True, 0.0)
    """

    half_life: float = DEFAULT_HALF_LIFE
    counts: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(N_BINS))
    weight: float = 1.0
    max_raw: float = 0.0
    max_raw_at_renormalization: float = 0.0
    last_bucket: float | None = None  # start of the last bucket observed (observe_bucket)

    def snapshot(self) -> ScoreNormalizer:
        """A copy that later observations of this one do not change (scores frozen as of now).

        >>> norm = ScoreNormalizer()
        >>> frozen = norm.snapshot()
        >>> norm.observe(1e-9)
        >>> float(frozen.counts.sum()), float(norm.counts.sum()) > 0
        (0.0, True)
        """
        return replace(self, counts=self.counts.copy())

    def _age_max(self, buckets: float = 1.0) -> None:
        """Age the maximum raw score by ``buckets`` (and the one renormalisation compares with).

        >>> norm = ScoreNormalizer(max_raw=10.0)
        >>> norm.observe(0.5)
        >>> round(norm.max_raw, 3)
        9.99
        """
        factor = math.exp(-MAX_DECAY_PER_BUCKET * buckets)
        self.max_raw *= factor
        self.max_raw_at_renormalization *= factor

    def observe(self, probability: float, confidence: float = 1.0, buckets: float = 1.0) -> None:
        """Add the raw score of ``probability``, one bucket's only score, to the history.

        A model with little history (``confidence`` < 1) adds a proportionally smaller raw score,
        so its early, overconfident probabilities do not set the scale for everything after.
        ``buckets``: how many buckets of time passed since the last one observed (see
        :meth:`observe_bucket`).
        """
        self._age_max(buckets)
        raw = raw_score(probability) * max(0.0, min(1.0, confidence))
        self.counts[_bin(raw)] += self.weight
        self.weight *= 2.0 ** (1.0 / self.half_life)
        if self.weight > 1e100:
            self.counts /= self.weight
            self.weight = 1.0
        self.max_raw = max(self.max_raw, raw)

    def observe_bucket(self, probabilities: npt.ArrayLike, start: float, span: float) -> None:
        """One bucket's probabilities, its start ``start`` (epoch seconds) and ``span``.

        The maximum ages by the buckets of time since the last bucket observed, not by one: a
        job skips buckets without events (a distinct count's quiet night, a quiet account's
        days), and counted per bucket observed, one burst on a trail of a few errors a day
        capped every later score for months instead of days. Elastic's job processes every
        bucket, empty or not, and ages its normaliser with each.

        >>> norm = ScoreNormalizer(max_raw=10.0)
        >>> norm.observe_bucket([0.5], 0.0, 900.0)
        >>> norm.observe_bucket([0.5], 96 * 900.0, 900.0)  # a day later
        >>> round(norm.max_raw, 2)
        9.08
        """
        buckets = 1.0 if self.last_bucket is None else max(1.0, (start - self.last_bucket) / span)
        self.last_bucket = start
        self.observe_many(probabilities, buckets)

    def observe_many(self, probabilities: npt.ArrayLike, buckets: float = 1.0) -> None:
        """Add one bucket's probabilities (confidence 1): :meth:`observe` each, in array steps.

        The maximum ages once, by ``buckets``, before they are added.

        The same history to the last bit: raw scores come from :func:`raw_score` (only the
        anomalous few need a logarithm), the weights are the running product :meth:`observe`
        computes (``np.multiply.accumulate`` multiplies in order), ``np.add.at`` adds them bin
        by bin in order, and a rescale falls after the same observation.
        """
        self._age_max(buckets)
        p = np.asarray(probabilities, dtype=np.float64).ravel()
        if p.size == 0:
            return
        raw = np.zeros(p.size)
        anomalous = np.flatnonzero(p < MAX_ANOMALOUS_PROBABILITY)
        if anomalous.size:
            raw[anomalous] = [raw_score(x) for x in p[anomalous].tolist()]
        bins = np.minimum((raw / BIN_WIDTH).astype(np.int64), N_BINS - 1)
        factor = 2.0 ** (1.0 / self.half_life)
        lo = 0
        while lo < p.size:
            steps = np.full(p.size - lo + 1, factor)
            steps[0] = self.weight
            weights = np.multiply.accumulate(steps)  # weights[i]: the weight of observation i
            over = np.flatnonzero(weights[1:] > 1e100)
            hi = p.size if over.size == 0 else lo + int(over[0]) + 1
            np.add.at(self.counts, bins[lo:hi], weights[: hi - lo])
            self.weight = float(weights[hi - lo])
            if self.weight > 1e100:
                self.counts /= self.weight
                self.weight = 1.0
            lo = hi
        self.max_raw = max(self.max_raw, float(raw.max()))

    @property
    def total(self) -> float:
        return float(self.counts.sum())

    def percentile(self, raw: float) -> float:
        """Percentage of the history with a raw score at or below ``raw`` (100 if no history)."""
        total = self.total
        if total <= 0.0:
            return 100.0
        return 100.0 * float(self.counts[: _bin(raw) + 1].sum()) / total

    def normalize(self, probability: float, confidence: float = 1.0) -> float:
        """0-100 score of ``probability`` against the current history."""
        raw = raw_score(probability)
        if raw <= 0.0:
            return 0.0
        score = knot_score(self.percentile(raw))
        if self.max_raw > 0.0:
            r = raw / self.max_raw
            score = min(score, 100.0 * min(1.5 * r, 0.5 + 0.5 * r))
        cap = probability_cap(probability)
        score = min(score, cap, 100.0 * max(0.0, min(1.0, confidence)))
        return round(max(0.0, min(100.0, score)), 6)

    def normalize_many(
        self, probabilities: npt.ArrayLike, confidences: npt.ArrayLike | None = None
    ) -> npt.NDArray[np.float64]:
        """Vectorised :meth:`normalize` for re-normalising many stored records at once."""
        p = np.asarray(probabilities, dtype=np.float64)
        conf = np.ones_like(p) if confidences is None else np.asarray(confidences, np.float64)
        raw = np.where(p < MAX_ANOMALOUS_PROBABILITY, -np.log10(np.maximum(p, 1e-300)), 0.0)
        raw = np.minimum(raw, MAX_RAW)
        bins = np.minimum((raw / BIN_WIDTH).astype(np.int64), N_BINS - 1)
        cum = np.cumsum(self.counts)
        total = cum[-1]
        pct = 100.0 * cum[bins] / total if total > 0 else np.full_like(p, 100.0)
        xs = np.array([k[0] for k in KNOT_POINTS])
        ys = np.array([k[1] for k in KNOT_POINTS])
        score = np.interp(pct, xs, ys)
        if self.max_raw > 0.0:
            r = raw / self.max_raw
            score = np.minimum(score, 100.0 * np.minimum(1.5 * r, 0.5 + 0.5 * r))
        score = np.minimum(score, _cap_many(p))
        score = np.minimum(score, 100.0 * np.clip(conf, 0.0, 1.0))
        out: npt.NDArray[np.float64] = np.where(raw > 0.0, np.clip(score, 0.0, 100.0), 0.0)
        return np.round(out, 6)

    def renormalization_due(self) -> bool:
        """True when the max raw score grew by more than :data:`BIG_CHANGE_FACTOR`."""
        return self.max_raw > BIG_CHANGE_FACTOR * self.max_raw_at_renormalization

    def mark_renormalized(self) -> None:
        """Record that stored scores have been re-normalised against the current history."""
        self.max_raw_at_renormalization = self.max_raw
