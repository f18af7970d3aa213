"""Trend, daily and weekly seasonality, and level shifts of one series, learnt online.

The baseline of a bucket is ``level (+ trend) (+ daily) (+ weekday) (+ weekly)``. Every component
learns all the time, but is *used* only while it explains variance: the decomposition keeps
decayed mean-squared one-step errors with and without each component, switches a component on
when it cuts the error by :data:`ACTIVATE_GAIN` after two full periods of history, and off again
when the gain falls below :data:`DEACTIVATE_GAIN` (the ``CTimeSeriesTestForSeasonality`` idea,
made incremental). A level shift is accepted when most of the last buckets sit far on one side of
the baseline; the level then jumps instead of creeping (``CTimeSeriesTestForChange``).

Implementation decisions: seasonal profiles are fixed arrays of phase bins (at most
:data:`MAX_DAILY_BINS` a day and :data:`MAX_WEEKLY_BINS` a week), so an update is O(1) and memory
is bounded per series; the profile is linearly interpolated between bins. The *weekday*
component is a step per day of the week (weekdays against weekends): with 168 hourly bins a
30-minute series gives each weekly bin two values a week, too few to beat the noise. Each bin
learns with gain ``max(1/visits, g)``: fast at first, then a moving average with a half-life of
:data:`SEASONAL_HALF_LIFE` periods so the shape can drift. A profile learns against the mean,
over its last period, of the series less the other components: a mean over a whole period is
blind to the pattern, while the fast level absorbs part of a daily swing and most of a weekend.
Each component's test runs its own two adaptive levels, one as if it were used and one as if
not, because the actual level has adapted to the component's current state. When a component
is switched on, its profile is taken out of the longer ones (which learnt it while it was off).
The caller feeds Huber-clipped values, so an attack does not become the new normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

DAY = 86400.0
WEEK = 7 * DAY
MAX_DAILY_BINS = 24  # hourly knots: more samples per bin, a less noisy profile than half-hourly
MAX_DETAIL_BINS = 288  # the daily detail: a step per bucket, down to five-minute buckets
MAX_WEEKLY_BINS = 168
DAYS_A_WEEK = 7  # the day-of-week level: weekdays against weekends, well sampled per bin
SEASONAL_HALF_LIFE = 1.0  # periods: the shape follows change within days (daily), weeks (weekly)
ACTIVATE_GAIN = 0.8  # use a component when it leaves < 80 % of the squared error
DEACTIVATE_GAIN = 0.95  # drop it when it leaves > 95 %
TREND_DAMPING = 0.995
LEVEL_HALF_LIFE = 4 * 3600.0
SEASONAL_MIN_WEIGHT = 0.25  # repeated "outliers" at the same phase must be learnable
REBASE_KEEP = 0.5  # of a longer component's test history, when a shorter one is moved out


def level_gain(bucket_span: float) -> float:
    """Per-bucket gain of the level: a half-life of LEVEL_HALF_LIFE (4 hours), at least 12 buckets.

    >>> round(level_gain(300.0), 4)
    0.0143
    """
    half_life = max(12.0, LEVEL_HALF_LIFE / bucket_span)
    return 1.0 - 0.5 ** (1.0 / half_life)


def gap_gain(gain: float, steps: float) -> float:
    """The level's gain for a value ``steps`` buckets after the last one (a local-level filter).

    The per-bucket ``gain`` is a steady-state Kalman gain; each bucket without a value adds the
    level's drift variance to its uncertainty, so after a gap the next value moves the level more,
    but by how far the level may have drifted, not all the way: one noisy value after a quiet
    night must not become the level.

    >>> round(gap_gain(0.05, 1), 3), round(gap_gain(0.05, 32), 3), round(gap_gain(0.05, 1e6), 3)
    (0.05, 0.118, 1.0)
    """
    if steps <= 1.0:
        return gain
    drift = gain * gain / (1.0 - gain)  # per bucket, relative to the noise variance
    prior = gain / (1.0 - gain) + (steps - 1.0) * drift
    return prior / (prior + 1.0)


@dataclass
class SeasonalComponent:
    """A periodic profile in phase bins, plus the error test that decides whether it is used."""

    period: float
    bins: int
    visits_per_period: float
    values: npt.NDArray[np.float64]
    visits: npt.NDArray[np.float64]
    active: bool = False
    ever_active: bool = False
    first_t: float | None = None
    mse_with: float = 0.0
    mse_without: float = 0.0
    mse_weight: float = 0.0  # the decayed weight behind the two sums
    # The level the series would have with and without this component (each its own EWMA):
    # the test must not judge the component against a level that has absorbed its pattern.
    level_with: float = math.nan
    level_without: float = math.nan
    # What the profile is learnt against: the mean, over the last period, of the series less
    # the other components (per bin, then over the bins). A mean over one whole period is
    # blind to the periodic pattern, so neither a day's swing nor a weekend leaks into it.
    recent: npt.NDArray[np.float64] | None = None
    recent_sum: float = 0.0
    recent_bins: int = 0
    interpolate: bool = True  # False: a step per bin (days of the week, the daily detail)
    detail: bool = False  # the daily detail: learns what the hourly daily profile leaves

    @classmethod
    def create(
        cls,
        period: float,
        bucket_span: float,
        max_bins: int,
        interpolate: bool = True,
        detail: bool = False,
    ) -> SeasonalComponent:
        bins = int(max(1, min(max_bins, round(period / bucket_span))))
        per_period = max(1.0, period / bucket_span / bins)
        return cls(
            period,
            bins,
            per_period,
            np.zeros(bins),
            np.zeros(bins),
            interpolate=interpolate,
            detail=detail,
        )

    @property
    def floor_gain(self) -> float:
        """Per-visit gain once warmed up: the profile's half-life is SEASONAL_HALF_LIFE periods.

        The daily detail too: with half-lives of two or three days it converged more slowly on
        a square wave and raised no fewer false alerts on a noisy one.
        """
        return 1.0 - 0.5 ** (1.0 / (SEASONAL_HALF_LIFE * self.visits_per_period))

    def knots(self, t: float) -> tuple[int, int, float]:
        """The two bins around ``t`` and the weight of the second (linear interpolation)."""
        if not self.interpolate:
            i = int((t % self.period) / self.period * self.bins) % self.bins
            return i, i, 0.0
        pos = (t % self.period) / self.period * self.bins - 0.5
        lo = math.floor(pos)
        frac = pos - lo
        return lo % self.bins, (lo + 1) % self.bins, frac

    def value(self, t: float) -> float:
        i, j, frac = self.knots(t)
        return float((1.0 - frac) * self.values[i] + frac * self.values[j])

    def reference(self, t: float, y: float) -> float:
        """Record ``y`` (the series less the other components) and return its mean over a period."""
        if self.recent is None:
            self.recent = np.full(self.bins, np.nan)
        i = int((t % self.period) / self.period * self.bins) % self.bins
        old = float(self.recent[i])
        if math.isnan(old):
            new = y
            self.recent_bins += 1
            self.recent_sum += new
        else:
            # Within a bin, an average over about one period's visits.
            new = old + 2.0 / (self.visits_per_period + 1.0) * (y - old)
            self.recent_sum += new - old
        self.recent[i] = new
        return self.recent_sum / self.recent_bins

    def shift(self, delta: float) -> None:
        """A level shift moves what the profile is measured against."""
        if self.recent is not None:
            self.recent += delta
            self.recent_sum += delta * self.recent_bins

    def learn(self, t: float, target: float, w: float) -> None:
        """Move the profile at ``t`` towards ``target`` (the series less the other parts)."""
        if self.first_t is None:
            self.first_t = t
        i, j, frac = self.knots(t)
        err = target - self.value(t)
        for k, share in ((i, 1.0 - frac), (j, frac)):
            if share <= 0.0:
                continue
            self.visits[k] += w * share
            gain = w * share * max(1.0 / max(self.visits[k], 1.0), self.floor_gain)
            self.values[k] += min(gain, 1.0) * err

    def test(
        self,
        t: float,
        err_without: float,
        err_with: float,
        w: float,
        decay: float,
        noise: float = 0.0,
    ) -> None:
        """Update the error test and switch the component on or off.

        ``noise``: a squared error per bucket the series has by chance; a component that is off
        stays off while the errors without it are no bigger (nothing to explain).
        """
        self.mse_without = self.mse_without * decay + w * err_without * err_without
        self.mse_with = self.mse_with * decay + w * err_with * err_with
        self.mse_weight = self.mse_weight * decay + w
        mature = self.first_t is not None and t - self.first_t >= 2 * self.period
        if not mature or self.mse_without <= 0.0:
            return
        ratio = self.mse_with / self.mse_without
        if not self.active and self.mse_without <= noise * self.mse_weight:
            ratio = 1.0
        if not self.active and ratio < ACTIVATE_GAIN:
            self.active = self.ever_active = True
        elif self.active and ratio > DEACTIVATE_GAIN:
            self.active = False


@dataclass
class Decomposition:
    """Level, damped trend and daily/weekly seasonal components of one series."""

    bucket_span: float
    level: float = math.nan
    trend: float = 0.0
    trend_active: bool = False
    mse_trend: float = 0.0
    mse_flat: float = 0.0
    last_t: float | None = None
    components: list[SeasonalComponent] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.components:
            for period, max_bins, smooth, detail in (
                (DAY, MAX_DAILY_BINS, True, False),
                (DAY, MAX_DETAIL_BINS, False, True),
                (WEEK, DAYS_A_WEEK, False, False),
                (WEEK, MAX_WEEKLY_BINS, True, False),
            ):
                if period < 4 * self.bucket_span:
                    continue
                component = SeasonalComponent.create(
                    period, self.bucket_span, max_bins, smooth, detail
                )
                if detail and component.bins <= MAX_DAILY_BINS:
                    continue  # hourly or longer buckets: the daily profile has every bucket
                if smooth and period == WEEK and component.bins <= DAYS_A_WEEK:
                    continue  # daily buckets: the day-of-week step is already this profile
                self.components.append(component)

    @property
    def initialised(self) -> bool:
        return not math.isnan(self.level)

    def _steps(self, t: float) -> float:
        if self.last_t is None:
            return 1.0
        return max((t - self.last_t) / self.bucket_span, 0.0)

    def seasonal(self, t: float, active_only: bool = True) -> float:
        """Sum of the (active) seasonal components at ``t``."""
        return sum(c.value(t) for c in self.components if c.active or not active_only)

    def baseline(self, t: float) -> float:
        """The expected value at ``t`` from the active components."""
        if not self.initialised:
            return 0.0
        trend = self._trend_ahead(self._steps(t)) if self.trend_active else 0.0
        return self.level + trend + self.seasonal(t)

    def _trend_ahead(self, steps: float) -> float:
        steps = min(steps, 1000.0)
        phi = TREND_DAMPING
        return self.trend * phi * (1 - phi**steps) / (1 - phi)

    def learn(self, t: float, x: float, w: float, decay: float, noise: float = 0.0) -> bool:
        """Learn ``x`` at ``t`` with weight ``w``; ``decay`` fades the component tests;
        ``noise`` is the squared error the series has by chance (see SeasonalComponent.test).

        Returns True when a seasonal component is used for the first time (the baseline changed
        shape, so residual statistics learnt without it are stale).
        """
        if not self.initialised:
            self.level = x
            self.last_t = t
            for c in self.components:
                c.first_t = t
            return False
        before = sum(c.ever_active for c in self.components)
        steps = self._steps(t)
        trend_step = self._trend_ahead(steps)
        gain = gap_gain(level_gain(self.bucket_span), steps)
        self._test_components(t, x, w, decay, trend_step, gain, noise)
        season = self.seasonal(t)
        old_level = self.level
        predicted = self.level + (trend_step if self.trend_active else 0.0)
        self.level = predicted + w * gain * (x - season - predicted)
        beta = 0.1 * gain
        self.trend = TREND_DAMPING * self.trend + w * beta * (
            (self.level - old_level) / max(steps, 1.0) - self.trend
        )
        # Seasonal components learn what their period-mean reference and the other components
        # leave (the fast level would absorb part of a daily swing or a weekend).
        for c in self.components:
            # The detail learns what the daily profile leaves after that has learnt this bucket:
            # learning the same error at once, the two would overshoot together.
            now = self.seasonal(t) if c.detail else season
            others = now - (c.value(t) if c.active else 0.0)
            reference = c.reference(t, x - others)
            c.learn(t, x - reference - others, max(w, SEASONAL_MIN_WEIGHT))
        self.last_t = t
        return sum(c.ever_active for c in self.components) != before

    def _test_components(
        self,
        t: float,
        x: float,
        w: float,
        decay: float,
        trend_step: float,
        gain: float,
        noise: float = 0.0,
    ) -> None:
        season = self.seasonal(t)
        for i, c in enumerate(self.components):
            # One-step errors of the series less the other components in use, with and
            # without this one, each against its own adaptive level (the actual level has
            # adapted to whichever state the component is in: judged against it, a weekly
            # component that is off always looked useless on weekends the level had absorbed).
            value = c.value(t)
            y = x - (season - (value if c.active else 0.0))
            if math.isnan(c.level_without):
                c.level_without, c.level_with = y, y - value
                continue
            without = y - c.level_without
            with_c = y - value - c.level_with
            was_active = c.active
            c.test(t, without, with_c, w, decay, noise)
            c.level_without += w * gain * without
            c.level_with += w * gain * with_c
            if c.active != was_active:
                self._rebase_longer(i, 1.0 if c.active else -1.0)
        flat_err = x - self.level - self.seasonal(t)
        trend_err = flat_err - trend_step
        self.mse_flat = self.mse_flat * decay + w * flat_err * flat_err
        self.mse_trend = self.mse_trend * decay + w * trend_err * trend_err
        if self.mse_flat > 0:
            ratio = self.mse_trend / self.mse_flat
            if not self.trend_active and ratio < ACTIVATE_GAIN:
                self.trend_active = True
            elif self.trend_active and ratio > DEACTIVATE_GAIN:
                self.trend_active = False

    def _rebase_longer(self, index: int, sign: float) -> None:
        """Move component ``index``'s profile out of (or back into) the longer-period ones.

        A longer component learns what the active shorter ones leave. Before the daily profile
        is used, the weekly one learns the daily swing too; without this it kept that copy for
        weeks (it fades with a half-life of one week), so the weekly test failed and every
        weekend raised alerts until about the fifth week.
        """
        short = self.components[index]
        for longer in self.components[index + 1 :]:
            width = longer.period / longer.bins
            # The short profile's mean over each longer bin (a day-of-week bin spans a day).
            samples = max(1, min(48, round(width / (short.period / short.bins))))
            profile = np.array(
                [
                    np.mean(
                        [
                            short.value(k * width + (j + 0.5) * width / samples)
                            for j in range(samples)
                        ]
                    )
                    for k in range(longer.bins)
                ]
            )
            # Bins never visited learnt nothing yet (their first visit sets them outright).
            longer.values -= sign * np.where(longer.visits > 0, profile, 0.0)
            # Its error test was measured with the stale profile: start it afresh, in the
            # state it is in. Reset to a ratio of 1 an active component (a square wave's daily
            # detail, when the hourly profile switched on) was dropped at its next bucket, and
            # the hourly profile alone then smeared every step over an hour, day after day.
            # The stale history keeps half its weight: at full weight a weekly profile that
            # only had a weekend's shape left to explain (weekends a third of the weekdays, at
            # every hour) needed another six days to be used, and a holiday went unseen.
            longer.mse_without *= REBASE_KEEP
            longer.mse_weight *= REBASE_KEEP
            longer.mse_with = longer.mse_without * (ACTIVATE_GAIN if longer.active else 1.0)

    def shift_level(self, delta: float) -> None:
        """Accept a level shift of ``delta``: the level jumps, the trend restarts."""
        self.level += delta
        self.trend = 0.0
        for c in self.components:
            c.level_with += delta
            c.level_without += delta
            c.shift(delta)

    def active_names(self) -> list[str]:
        """Names of the components in use, for explanations and tests."""
        names = ["trend"] if self.trend_active else []
        for c in self.components:
            if c.active:
                names.append(_component_name(c))
        return names


def _component_name(c: SeasonalComponent) -> str:
    if c.period == DAY:
        return "daily detail" if c.detail else "daily"
    return "weekly" if c.interpolate else "weekday"
