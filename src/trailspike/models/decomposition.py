"""Trend, daily and weekly seasonality, and level shifts of one series, learnt online.

The baseline of a bucket is ``level (+ trend) (+ daily) (+ weekly)``. Every component learns all
the time, but is *used* only while it explains variance: the decomposition keeps decayed
mean-squared one-step errors with and without each component, switches a component on when it
cuts the error by :data:`ACTIVATE_GAIN` after two full periods of history, and off again when the
gain falls below :data:`DEACTIVATE_GAIN` (the ``CTimeSeriesTestForSeasonality`` idea, made
incremental). A level shift is accepted when most of the last buckets sit far on one side of the
baseline; the level then jumps instead of creeping (``CTimeSeriesTestForChange``).

Implementation decisions: seasonal profiles are fixed arrays of phase bins (at most
:data:`MAX_DAILY_BINS` a day and :data:`MAX_WEEKLY_BINS` a week), so an update is O(1) and memory
is bounded per series; the profile is linearly interpolated between bins. Each bin learns with
gain ``max(1/visits, g)``: fast at first, then a moving average with a half-life of
:data:`SEASONAL_HALF_LIFE` periods so the shape can drift. Seasonal targets are taken against a
slow level (half-life :data:`SLOW_LEVEL_HALF_LIFE`), because the fast level would absorb part of
a daily swing and flatten the learnt profile. The caller feeds Huber-clipped values, so an attack
does not become the new normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

DAY = 86400.0
WEEK = 7 * DAY
MAX_DAILY_BINS = 24  # hourly knots: more samples per bin, a less noisy profile than half-hourly
MAX_WEEKLY_BINS = 168
SEASONAL_HALF_LIFE = 1.0  # periods: the shape follows change within days (daily), weeks (weekly)
ACTIVATE_GAIN = 0.8  # use a component when it leaves < 80 % of the squared error
DEACTIVATE_GAIN = 0.95  # drop it when it leaves > 95 %
TREND_DAMPING = 0.995
LEVEL_HALF_LIFE = 4 * 3600.0
SLOW_LEVEL_HALF_LIFE = 43200.0
SEASONAL_MIN_WEIGHT = 0.25  # repeated "outliers" at the same phase must be learnable


def level_gain(bucket_span: float) -> float:
    """Per-bucket gain of the level: a half-life of LEVEL_HALF_LIFE (4 hours), at least 12 buckets.

    >>> round(level_gain(300.0), 4)
    0.0143
    """
    half_life = max(12.0, LEVEL_HALF_LIFE / bucket_span)
    return 1.0 - 0.5 ** (1.0 / half_life)


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

    @classmethod
    def create(cls, period: float, bucket_span: float, max_bins: int) -> SeasonalComponent:
        bins = int(max(1, min(max_bins, round(period / bucket_span))))
        per_period = max(1.0, period / bucket_span / bins)
        return cls(period, bins, per_period, np.zeros(bins), np.zeros(bins))

    @property
    def floor_gain(self) -> float:
        """Per-visit gain once warmed up: the profile's half-life is SEASONAL_HALF_LIFE periods."""
        return 1.0 - 0.5 ** (1.0 / (SEASONAL_HALF_LIFE * self.visits_per_period))

    def knots(self, t: float) -> tuple[int, int, float]:
        """The two bins around ``t`` and the weight of the second (linear interpolation)."""
        pos = (t % self.period) / self.period * self.bins - 0.5
        lo = math.floor(pos)
        frac = pos - lo
        return lo % self.bins, (lo + 1) % self.bins, frac

    def value(self, t: float) -> float:
        i, j, frac = self.knots(t)
        return float((1.0 - frac) * self.values[i] + frac * self.values[j])

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

    def test(self, t: float, err_without: float, err_with: float, w: float, decay: float) -> None:
        """Update the error test and switch the component on or off."""
        self.mse_without = self.mse_without * decay + w * err_without * err_without
        self.mse_with = self.mse_with * decay + w * err_with * err_with
        mature = self.first_t is not None and t - self.first_t >= 2 * self.period
        if not mature or self.mse_without <= 0.0:
            return
        ratio = self.mse_with / self.mse_without
        if not self.active and ratio < ACTIVATE_GAIN:
            self.active = self.ever_active = True
        elif self.active and ratio > DEACTIVATE_GAIN:
            self.active = False


@dataclass
class Decomposition:
    """Level, damped trend and daily/weekly seasonal components of one series."""

    bucket_span: float
    level: float = math.nan
    slow_level: float = math.nan  # the reference the seasonal profiles are learnt against
    trend: float = 0.0
    trend_active: bool = False
    mse_trend: float = 0.0
    mse_flat: float = 0.0
    last_t: float | None = None
    components: list[SeasonalComponent] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.components:
            for period, max_bins in ((DAY, MAX_DAILY_BINS), (WEEK, MAX_WEEKLY_BINS)):
                if period >= 4 * self.bucket_span:
                    self.components.append(
                        SeasonalComponent.create(period, self.bucket_span, max_bins)
                    )

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

    def learn(self, t: float, x: float, w: float, decay: float) -> bool:
        """Learn ``x`` at ``t`` with weight ``w``; ``decay`` fades the component tests.

        Returns True when a seasonal component is used for the first time (the baseline changed
        shape, so residual statistics learnt without it are stale).
        """
        if not self.initialised:
            self.level = self.slow_level = x
            self.last_t = t
            for c in self.components:
                c.first_t = t
            return False
        before = sum(c.ever_active for c in self.components)
        steps = self._steps(t)
        trend_step = self._trend_ahead(steps)
        self._test_components(t, x, w, decay, trend_step)
        season = self.seasonal(t)
        gain = 1.0 - (1.0 - level_gain(self.bucket_span)) ** max(steps, 1.0)
        old_level = self.level
        predicted = self.level + (trend_step if self.trend_active else 0.0)
        self.level = predicted + w * gain * (x - season - predicted)
        beta = 0.1 * gain
        self.trend = TREND_DAMPING * self.trend + w * beta * (
            (self.level - old_level) / max(steps, 1.0) - self.trend
        )
        slow_gain = 1.0 - 0.5 ** (
            max(steps, 1.0) * self.bucket_span / max(SLOW_LEVEL_HALF_LIFE, 4 * self.bucket_span)
        )
        self.slow_level += slow_gain * (x - season - self.slow_level)
        # Seasonal components learn what the slow level and the other components leave (the
        # fast level would absorb part of a daily swing and bias the profile towards flat).
        for c in self.components:
            others = season - (c.value(t) if c.active else 0.0)
            c.learn(t, x - self.slow_level - others, max(w, SEASONAL_MIN_WEIGHT))
        self.last_t = t
        return sum(c.ever_active for c in self.components) != before

    def _test_components(
        self, t: float, x: float, w: float, decay: float, trend_step: float
    ) -> None:
        base = self.level + (trend_step if self.trend_active else 0.0)
        running = base
        for c in self.components:
            # Compare the error of the baseline built so far with and without this component.
            without = x - running
            with_c = without - c.value(t)
            c.test(t, without, with_c, w, decay)
            if c.active:
                running += c.value(t)
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

    def shift_level(self, delta: float) -> None:
        """Accept a level shift of ``delta``: the level jumps, the trend restarts."""
        self.level += delta
        self.slow_level += delta
        self.trend = 0.0

    def active_names(self) -> list[str]:
        """Names of the components in use, for explanations and tests."""
        names = ["trend"] if self.trend_active else []
        for c in self.components:
            if c.active:
                names.append("daily" if c.period == DAY else "weekly")
        return names
