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
- A change the multi-bucket view reports is adopted as the new level and its window restarts; a
  change that goes on then fills the new window and was reported again an hour later, so for
  :data:`HOLD_BUCKETS` the view needs :data:`HOLD_FACTOR` times the evidence to report again in
  the same direction (learning is unaffected).
- The baseline is kept within the values of the last week (:mod:`.value_range`): a sum of
  components can leave the range the series takes (a quiet weekend under a busy daily profile).
- Confidence grows with history and reaches 1 after :data:`FULL_CONFIDENCE_TIME` (two days, at
  least 24 buckets); scores are capped by it in :mod:`.normalizer`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from scipy import special

from trailspike.models.base import BucketScore, SeriesKind, Side
from trailspike.models.decomposition import Decomposition
from trailspike.models.normalizer import ALERT_PROBABILITY
from trailspike.models.outliers import OUTLIER_PROBABILITY, OutlierModel
from trailspike.models.priors import (
    DISCRETE,
    Moments,
    ResidualModel,
    normal_cdf,
    normal_sf,
)
from trailspike.models.probabilities import (
    combine_probabilities,
    multi_bucket_impact,
    parameter_uncertainty,
    side_probability,
)
from trailspike.models.repeats import RepeatModel
from trailspike.models.state import restore_attributes
from trailspike.models.value_range import ValueRange

MULTI_BUCKET_LENGTH = 12
HALF_LIFE = 7 * 86400.0
EVIDENCE_HALF_LIFE = 2 * 86400.0  # the choice of distribution follows recent behaviour
EVIDENCE_MIN_BUCKETS = 288  # ... yet rests on as many buckets as a day of five-minute ones
FULL_CONFIDENCE_TIME = 2 * 86400.0
OUTLIER_Z = 3.0
SHIFT_Z = 3.0
MIN_WEIGHT = 0.01
PIT_CAP = 5.0  # normal scores are capped here in the multi-bucket view (one spike adds <= 5/12)
MULTI_SD_FLOOR = 0.1
# After a change is reported, the multi-bucket view needs this much more evidence to report
# again in the same direction for this many buckets: the refilled window of a change that goes
# on is not a new anomaly.
HOLD_BUCKETS = 2 * MULTI_BUCKET_LENGTH
HOLD_FACTOR = 10.0
MULTI_RESET_PROBABILITY = ALERT_PROBABILITY  # a change reported at alert level is adopted
CHANGE_MEMORY = 0.7  # after a level shift, the residual statistics keep this share of weight
SEASON_MEMORY = 0.2  # when seasonality is first used, residuals learnt without it keep this share
SETTLE_TIME = 2 * 86400.0
SETTLE_HALF_LIFE = 6 * 3600.0
MIN_OUTLIER_WEIGHT = 0.01  # an alert-level outlier still counts a little (a routine is learnt)
RECOVERY_MEMORY = 86400.0  # for a day after a level shift, a return to the old level is expected


@dataclass(frozen=True)
class Assessment:
    """What the model makes of one value before learning it (shared by score and learn)."""

    t: float
    value: float
    baseline: float
    candidate: str
    lower: float  # bulk P(X <= x)
    upper: float  # bulk P(X >= x)
    z: float  # the value on the normal scale of the bulk distribution, capped
    outlier: int  # +1 / -1 when the bulk calls it an outlier above / below, else 0
    recovered: bool = False  # back at the level before a recent shift (baseline is that level)
    window_z: float = 0.0  # the normal score the multi-bucket view averages (z but for counts)


@dataclass
class TimeSeriesModel:
    """One numeric series sampled once per bucket (counts or metrics)."""

    kind: SeriesKind
    side: Side
    bucket_span: float
    decomposition: Decomposition = field(init=False)
    residuals: ResidualModel = field(init=False)
    outliers: OutlierModel = field(init=False)
    recent: deque[float] = field(init=False)  # normal scores, for the multi-bucket view
    raw_recent: deque[float] = field(init=False)  # raw residuals, for level-shift tests
    multi: Moments = field(default_factory=Moments)
    value_range: ValueRange = field(default_factory=ValueRange)
    repeats: RepeatModel = field(default_factory=RepeatModel)
    # Buckets since the multi-bucket view last reported a change, and that change's direction.
    since_adoption: int = 1 << 30
    adoption_sign: float = 0.0
    settle_until: float = -math.inf
    settled: bool = True
    changed_at: float = -math.inf
    # Level shifts adopted within RECOVERY_MEMORY of each other, summed, and when the last was.
    shift_total: float = 0.0
    shift_at: float = -math.inf
    n: int = 0
    first_t: float | None = None
    last_t: float | None = None
    _last: Assessment | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.bucket_span <= 0:
            raise ValueError("bucket_span must be positive")
        self.decomposition = Decomposition(self.bucket_span)
        self.residuals = ResidualModel(is_count=self.kind == "count")
        self.outliers = OutlierModel(self.bucket_span)
        self.recent = deque(maxlen=MULTI_BUCKET_LENGTH)
        self.raw_recent = deque(maxlen=MULTI_BUCKET_LENGTH)

    def __setstate__(self, state: dict[str, object]) -> None:
        restore_attributes(self, state)  # names interned: a loaded state dumps to its bytes
        # States saved before the value range (session 8) load with an empty one.
        self.__dict__.setdefault("value_range", ValueRange())
        self.__dict__.setdefault("repeats", RepeatModel())

    # ------------------------------------------------------------------ scoring
    def confidence(self, t: float) -> float:
        """0..1: how much history backs the model at ``t``."""
        if self.first_t is None:
            return 0.0
        span = max(FULL_CONFIDENCE_TIME, 24 * self.bucket_span)
        by_time = (t - self.first_t) / span
        by_count = self.n / 24.0
        return max(0.0, min(1.0, by_time, by_count))

    def _assess(self, t: float, value: float) -> Assessment:
        last = self._last
        if last is not None and last.t == t and last.value == value:
            return last
        baseline = self._recent_baseline(t)
        name = self.residuals.best()
        lower, upper = self._tails(name, value, baseline)
        recovered = False
        if t - self.shift_at <= RECOVERY_MEMORY and self.shift_total != 0.0:
            # A value far from the new level but at home at the level before the recent shift
            # is the series recovering (an outage ends, a batch finishes), not a new anomaly.
            old = baseline - self.shift_total
            old_lower, old_upper = self._tails(name, value, old)
            if (
                2.0 * min(lower, upper) < OUTLIER_PROBABILITY
                and 2.0 * min(old_lower, old_upper) >= OUTLIER_PROBABILITY
            ):
                baseline, lower, upper, recovered = old, old_lower, old_upper, True
        z = max(-PIT_CAP, min(PIT_CAP, float(special.ndtri(max(min(lower, 1.0 - 1e-16), 1e-16)))))
        if upper < lower:
            z = max(z, -float(special.ndtri(max(upper, 1e-300))) if upper < 0.5 else z)
            z = min(z, PIT_CAP)
        outlier = 0
        if self.n >= 12 and 2.0 * min(lower, upper) < OUTLIER_PROBABILITY:
            outlier = 1 if upper < lower else -1
        window_z = (
            self._unit_z(name, value, baseline)
            if self.kind == "count" and name not in DISCRETE
            else z
        )
        self._last = Assessment(
            t, value, baseline, name, lower, upper, z, outlier, recovered, window_z
        )
        return self._last

    def _recent_baseline(self, t: float) -> float:
        """The decomposition's baseline, kept within the values of the last week.

        For counts the expected count (baseline plus the residuals' mean, the count shapes' mean)
        is kept there: the mean residual of a workday pattern's counts sits well below zero
        (quiet weekends under a busy daily profile), and a count shape whose mean fell below the
        fewest errors ever seen made a single error on a Saturday evening p ~ 1e-5.
        """
        offset = self.residuals.moments.mean if self.kind == "count" else 0.0
        return self.value_range.clamp(t, self.decomposition.baseline(t) + offset) - offset

    def _unit_z(self, name: str, value: float, baseline: float) -> float:
        """Normal score of a count under a continuous shape: the middle of its unit interval.

        The shapes are compared on counts by the probability of the unit interval around each
        value (:mod:`.priors`), and the multi-bucket view now reads them the same way.
        ``P(X <= x)`` at the count itself put a typical count high on the normal scale and
        drifting with the shape (a 3 where counts are 3 almost always: z 0.8-2.3 as a narrow
        Student-t or mixture took over), so windows of ordinary buckets scored 1e-5. The
        count shapes keep ``P(X <= x)``, the convention their learning was measured with.
        """
        below = self._tails(name, value - 0.5, baseline)[0]
        upto = self._tails(name, value + 0.5, baseline)[0]
        u = min(max(0.5 * (below + upto), 1e-300), 1.0 - 1e-16)
        return max(-PIT_CAP, min(PIT_CAP, float(special.ndtri(u))))

    def _tails(self, name: str, value: float, baseline: float) -> tuple[float, float]:
        """Bulk (lower, upper) tails of ``value`` around ``baseline`` under candidate ``name``.

        The evidence compares candidates on the bulk, not on the tails: a shape that wins on
        quiet days (e.g. a log-normal on counts that sit at 1) may have far thinner tails than
        the reference. Tails are never thinner than the reference's.
        """
        lower, upper = self.residuals.tails(name, value, baseline)
        reference = self.residuals.reference()
        if name != reference:
            ref_lower, ref_upper = self.residuals.tails(reference, value, baseline)
            lower, upper = max(lower, ref_lower), max(upper, ref_upper)
        return lower, upper

    def score_one(self, t: float, value: float) -> BucketScore:
        """Score ``value`` for the bucket at ``t`` against what has been learnt so far."""
        if self.n == 0 or not math.isfinite(value):
            return BucketScore(1.0, value, value, value, confidence=0.0)
        a = self._assess(t, value)
        res = self.residuals
        lower, upper = self._bucket_tails(a)
        single = side_probability(lower, upper, self.side) if self.n >= 2 else 1.0
        repeat = 1.0
        if self.side == "both":  # a stuck value is unusual behaviour, neither high nor low
            repeat = self.repeats.probability(value)
            single = min(single, repeat)
        multi = self._multi_probability(a.window_z)
        typical = res.quantile(a.candidate, 0.5, a.baseline)
        lo = res.quantile(a.candidate, 0.025, a.baseline)
        hi = res.quantile(a.candidate, 0.975, a.baseline)
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
            repeat_probability=repeat,
            repeated_buckets=self.repeats.run + 1 if repeat < 1.0 else 0,
        )

    def _bucket_tails(self, a: Assessment) -> tuple[float, float]:
        """Single-bucket (lower, upper) tails: bulk, widened for few samples, with outliers."""
        dof = max(1.0, self.residuals.moments.n - 1.0)
        lower = parameter_uncertainty(a.lower, dof)
        upper = parameter_uncertainty(a.upper, dof)
        # Counts weigh past outliers' sizes by how much each was learnt (a past attack does not
        # make the next of its size routine); metrics measured better without (NAB's spiky
        # CPU series: 24 -> 29 false rows, docs/models.md).
        z = self._z(a.value - a.baseline)
        return self.outliers.contaminate(a.t, z, lower, upper, self.kind == "count")

    def _outlier_weight(self, a: Assessment) -> float:
        """How much an outlier bucket teaches the outlier model: less the more anomalous it was.

        The probability on the outlier's side (outliers included) over the alert evidence, at
        least :data:`MIN_OUTLIER_WEIGHT`: a spike the model reported at alert level is mostly
        not learnt as routine (a past attack must not make the next one look ordinary), while a
        recurring spike, once it is no longer alert-level, is learnt in full.
        """
        lower, upper = self._bucket_tails(a)
        tail = upper if a.outlier > 0 else lower
        return max(MIN_OUTLIER_WEIGHT, min(1.0, tail / MULTI_RESET_PROBABILITY))

    def _multi_feature(self, z: float) -> float | None:
        if len(self.recent) < MULTI_BUCKET_LENGTH - 1:
            return None
        window = [*list(self.recent)[-(MULTI_BUCKET_LENGTH - 1) :], z]
        return sum(window) / len(window)

    def _multi_probability(self, z: float, reported: bool = True) -> float:
        """Tail probability of the mean normal score of the last buckets (this one included).

        ``reported``: the probability scored, raised by :data:`HOLD_FACTOR` on the side of a
        change reported within :data:`HOLD_BUCKETS`; learning uses the unraised one, so the
        hold changes what is reported, never what is learnt.
        """
        feature = self._multi_feature(z)
        if feature is None or self.multi.n < MULTI_BUCKET_LENGTH:
            return 1.0
        sd = max(math.sqrt(self.multi.var), MULTI_SD_FLOOR)
        zm = (feature - self.multi.mean) / sd
        p = side_probability(normal_cdf(zm), normal_sf(zm), self.side)
        if reported and self.since_adoption < HOLD_BUCKETS and zm * self.adoption_sign > 0:
            p = min(1.0, p * HOLD_FACTOR)
        return p

    # ----------------------------------------------------------------- learning
    def _clip(self, residual: float) -> float:
        """Winsorise a residual at :data:`OUTLIER_Z` sd (Huber), for robust learning."""
        mean, bound = self.residuals.moments.mean, OUTLIER_Z * self.residuals.sd()
        return max(mean - bound, min(mean + bound, residual))

    def _z(self, residual: float) -> float:
        return (residual - self.residuals.moments.mean) / self.residuals.sd()

    def _weight(self, a: Assessment) -> float:
        """Learning weight for the residual distribution: 1 inside the bulk, (k/z)^2 beyond.

        For counts ``z`` is the value's normal score under the count distribution, not its
        distance in standard deviations: with a mean of 0.05 a 1 is 4 sd away yet happens every
        twenty buckets, and down-weighting it biased the rate low (a 2 then scored 1e-5, not
        1e-3). Continuous metrics keep the distance, which is robust to a shape picked on the
        bulk.
        """
        if self.n < 12:
            return 1.0
        if self.residuals.reference() == "negbin":
            tail = max(min(a.lower, a.upper), 1e-300)
            z = -float(special.ndtri(min(tail, 0.5)))
        else:
            z = abs(self._z(a.value - a.baseline))
        return 1.0 if z <= OUTLIER_Z else max(MIN_WEIGHT, (OUTLIER_Z / z) ** 2)

    def _winsorised(self, a: Assessment) -> float:
        """The value an outlier teaches the spread: for counts, at most the 3-sd count.

        A metric's weight, ``(k / z)^2`` with ``z`` its distance in sd, bounds what an outlier
        adds to the variance. A count's ``z`` is its normal score under the count distribution,
        far below its distance: on a sparse trail of single errors one burst of 142 messages
        made the spread ~30 for a week, and the same burst the next day scored p ~ 0.01. The
        count is pulled in to the count shape's quantile at the outlier bound, rounded outwards
        (a rate of 0.05 still learns its ones). Metrics keep their values: on NAB and the
        generic shapes (integer-valued square waves take the count shape) it cost more false
        alerts than it saved.
        """
        name = self.residuals.reference()
        if not a.outlier or self.kind != "count" or name not in DISCRETE:
            return a.value
        if a.outlier > 0:
            bound = math.ceil(self.residuals.quantile(name, normal_cdf(OUTLIER_Z), a.baseline))
            return min(a.value, float(bound))
        bound = math.floor(self.residuals.quantile(name, normal_cdf(-OUTLIER_Z), a.baseline))
        return max(a.value, float(bound))

    def learn_one(self, t: float, value: float) -> None:
        """Learn ``value`` for the bucket at ``t`` (call after :meth:`score_one`)."""
        if not math.isfinite(value):
            return
        if self.first_t is None:
            self.first_t = t
        steps = 1.0 if self.last_t is None else max((t - self.last_t) / self.bucket_span, 1.0)
        decay = 0.5 ** (steps * self.bucket_span / HALF_LIFE)
        target = value
        if self.n > 0:
            a = self._assess(t, value)
            if a.recovered:
                self._recover()
            residual = value - a.baseline
            if not self.settled and t >= self.settle_until:
                # Outliers learnt while the new seasonal profile settled were mostly its misfits
                # (at each step of a square wave, day after day): they would hide an anomaly at
                # those hours for a week. They kept routine spikes quiet meanwhile.
                self.outliers.forget()
                self.settled = True
            if self.n >= 12:
                w_out = self._outlier_weight(a) if a.outlier else 1.0
                self.outliers.learn(t, self._z(residual), a.outlier != 0, decay, w_out)
            w = self._weight(a)
            self.residuals.score_evidence(
                value, a.baseline, decay ** (HALF_LIFE / self._evidence_half_life())
            )
            self.residuals.learn(self._winsorised(a), a.baseline, w, decay, raw=value)
            self._learn_multi(t, a.window_z, residual, decay)
            # The decomposition learns a Huber-clipped value: robust to spikes, yet it follows
            # a sustained change at a bounded pace.
            target = a.baseline + self._clip(residual)
        self._last = None
        if self.decomposition.learn(t, target, 1.0, decay, self._count_noise()):
            # Seasonality found: residuals learnt without it are stale, and while the profile
            # settles over the next two days the residual statistics keep a short memory.
            self.residuals.forget(SEASON_MEMORY)
            self.multi.decay(SEASON_MEMORY)
            # "Outliers" seen before the seasonality was modelled were mostly the season itself.
            self.outliers.forget()
            self.settle_until = t + SETTLE_TIME
            self.settled = False
            self.changed_at = t
        memory = self._residual_memory(t)
        if memory < HALF_LIFE:
            dt = steps * self.bucket_span
            self.residuals.forget(0.5 ** (dt / memory - dt / HALF_LIFE))
        self.n += 1
        self.last_t = t
        self.value_range.add(t, value)
        self.repeats.learn(value, decay)
        self._check_level_shift(t)

    def _count_noise(self) -> float:
        """The variance a count has by chance alone at its level (Poisson's: its mean), below
        which a seasonal profile has nothing to explain; 0 for metrics.

        In a series of near-constant ones the error tests compare errors of ~0.01, and a burst's
        clipped buckets decided them: one burst switched a daily profile on, which forgot the
        residual statistics, and the same burst the next day scored p ~ 1e-2 (docs/models.md).
        """
        if self.kind != "count" or not self.decomposition.initialised:
            return 0.0
        return max(self.decomposition.level + self.residuals.moments.mean, 0.0)

    def _evidence_half_life(self) -> float:
        """Half-life of the candidates' evidence: two days, and at least 288 buckets.

        The margin a shape needs over the reference is a fixed number of nats, so with two days
        of half-hourly buckets (about 35 sampled values) even a clearly better shape could not
        reach it: a multiplicative-noise series kept the normal and alerted at every busy hour.
        """
        return max(EVIDENCE_HALF_LIFE, EVIDENCE_MIN_BUCKETS * self.bucket_span)

    def _residual_memory(self, t: float) -> float:
        """Half-life of the residual statistics: short while a new seasonal profile settles.

        For :data:`SETTLE_TIME` after seasonality is first used the memory is
        :data:`SETTLE_HALF_LIFE`; after that it grows as a quarter of the time since the change,
        up to :data:`HALF_LIFE`, so the spread follows the profile's improving fit instead of
        remembering its first, poor days for a week (which made the spread ~15 % too wide).
        """
        if t < self.settle_until:
            return SETTLE_HALF_LIFE
        return max(SETTLE_HALF_LIFE, min(HALF_LIFE, 0.25 * (t - self.changed_at)))

    def _learn_multi(self, t: float, z: float, residual: float, decay: float) -> None:
        feature = self._multi_feature(z)
        self.raw_recent.append(residual)
        self.since_adoption += 1
        if feature is not None and self._multi_probability(z, reported=False) < (
            MULTI_RESET_PROBABILITY
        ):
            self.since_adoption = 0
            self.adoption_sign = 1.0 if feature > self.multi.mean else -1.0
            # The sustained change has been reported: the anomaly is the change, not the new
            # level. The level moves to the window's median residual and the window starts
            # afresh, so the same episode does not keep scoring bucket after bucket.
            self._adopt_change(t)
            if feature is not None:
                self.multi.decay(CHANGE_MEMORY)
                self.multi.add(feature, 1.0)
            return
        self.recent.append(z)
        if feature is not None:
            self.multi.decay(decay)
            self.multi.add(feature, 1.0)

    def _shift_level(self, t: float, delta: float) -> None:
        """Adopt a level shift of ``delta``, remembering it for a possible recovery."""
        self.decomposition.shift_level(delta)
        self.residuals.forget(CHANGE_MEMORY)
        recent = t - self.shift_at <= RECOVERY_MEMORY
        self.shift_total = self.shift_total + delta if recent else delta
        self.shift_at = t

    def _recover(self) -> None:
        """The series is back at its level before the recent shifts: return to it at once."""
        delta = -self.shift_total
        self.decomposition.shift_level(delta)
        self.shift_total, self.shift_at = 0.0, -math.inf
        self.raw_recent = deque((r - delta for r in self.raw_recent), maxlen=MULTI_BUCKET_LENGTH)
        self.recent = deque(
            (max(-PIT_CAP, min(PIT_CAP, self._z(r))) for r in self.raw_recent),
            maxlen=MULTI_BUCKET_LENGTH,
        )

    def _adopt_change(self, t: float) -> None:
        """Move the level to the median of the recent residuals and restart the window."""
        mean = self.residuals.moments.mean
        shifted = sorted(r - mean for r in self.raw_recent)
        delta = shifted[len(shifted) // 2]
        self._shift_level(t, delta)
        self.raw_recent = deque((r - delta for r in self.raw_recent), maxlen=MULTI_BUCKET_LENGTH)
        self.recent.clear()

    def _check_level_shift(self, t: float) -> None:
        """Jump the level when most recent buckets sit far on one side of the baseline."""
        if self.n < 2 * MULTI_BUCKET_LENGTH or len(self.raw_recent) < MULTI_BUCKET_LENGTH:
            return
        mean, sd = self.residuals.moments.mean, self.residuals.sd()
        zs = [(r - mean) / sd for r in self.raw_recent]
        need = int(0.75 * MULTI_BUCKET_LENGTH)
        for sign in (1.0, -1.0):
            far = [z for z in zs if sign * z > SHIFT_Z]
            if len(far) >= need and sign * zs[-1] > SHIFT_Z:
                shifted = sorted(r - mean for r in self.raw_recent)
                delta = shifted[len(shifted) // 2]
                self._shift_level(t, delta)
                self.multi.decay(CHANGE_MEMORY)
                # After the jump, the recent buckets are judged against the new level.
                self.raw_recent = deque(
                    (r - delta for r in self.raw_recent), maxlen=MULTI_BUCKET_LENGTH
                )
                self.recent = deque(
                    (max(-PIT_CAP, min(PIT_CAP, self._z(r))) for r in self.raw_recent),
                    maxlen=MULTI_BUCKET_LENGTH,
                )
                return
