"""Residual distributions for a series, and the choice among them by evidence.

A :class:`ResidualModel` keeps several candidate distributions of a bucket value around the
baseline (level + seasonality) the decomposition predicts, updates all of them with decayed,
weighted sufficient statistics, and picks the one whose one-step-ahead predictions have been the
most likely (a decayed sum of log predictive densities, the ``COneOfNPrior`` idea of ml-cpp).

Candidates: ``normal`` and ``split_normal`` (skewed) on the residual, a ``student_t`` (heavy
tails, 4 degrees of freedom), a two-component normal ``mixture`` (multimodal), ``lognormal`` and
``gamma`` for non-negative skewed values, and ``poisson`` / ``negbin`` for counts.

Implementation decisions: every update is O(1) in plain floats (the series models see one value
per bucket, thousands of series per job). Candidates that do not fit the data (negative values
for log-normal, fractions for Poisson) are marked invalid and stop competing. Densities of the
discrete candidates are compared with the continuous ones as probability per unit interval,
which is exact for integer data. Tail probabilities use ``scipy.special`` scalar functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from scipy import special

SD_FLOOR_FRACTION = 1e-3
"""Residual spread never drops below this fraction of the value scale (a flat series is not
infinitely certain)."""

EPS = 1e-12
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
SQRT2 = math.sqrt(2.0)
OCCAM = 10.0  # nats of evidence another candidate needs over the reference to replace it
EVIDENCE_STRIDE = 4  # candidates are compared on every 4th bucket: evidence is cheap to sample
T_DOF = 4.0
T_SCALE = math.sqrt((T_DOF - 2.0) / T_DOF)  # a t(4) with unit variance has this scale
DISCRETE = frozenset({"poisson", "negbin"})  # the count candidates


@dataclass
class Moments:
    """Decayed, weighted sums of a quantity: weight, mean and variance.

    >>> m = Moments()
    >>> for x in (1.0, 2.0, 3.0):
    ...     m.add(x, 1.0)
    >>> round(m.mean, 3), round(m.var, 3)
    (2.0, 0.667)
    """

    n: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float, w: float) -> None:
        """Add ``x`` with weight ``w`` (Welford's update, weighted)."""
        if w <= 0.0:
            return
        self.n += w
        delta = x - self.mean
        self.mean += delta * w / self.n
        # After a long gap the old weight has decayed to ~1e-30 and the update cancels to a
        # rounding error that can be negative; a variance is never below zero.
        self.m2 = max(self.m2 + w * delta * (x - self.mean), 0.0)

    def decay(self, factor: float) -> None:
        """Fade the old observations by ``factor`` in (0, 1]."""
        self.n *= factor
        self.m2 *= factor

    @property
    def var(self) -> float:
        return max(self.m2 / self.n, 0.0) if self.n > 0.0 else 0.0


def normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal (math.erfc: far cheaper than a scipy scalar call).

    >>> round(normal_cdf(0.0), 3)
    0.5
    """
    return 0.5 * math.erfc(-z / SQRT2)


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal.

    >>> round(normal_sf(1.6448536), 4)
    0.05
    """
    return 0.5 * math.erfc(z / SQRT2)


def _tails(lower: float, upper: float) -> tuple[float, float]:
    """Clamp a (P(X <= x), P(X >= x)) pair into (0, 1]."""
    return (min(1.0, max(lower, 1e-300)), min(1.0, max(upper, 1e-300)))


@dataclass
class ResidualModel:
    """Candidate distributions of a value given its baseline, chosen by predictive evidence.

    ``scale`` is a rough magnitude of the series, used to floor the residual spread.
    """

    is_count: bool = False
    moments: Moments = field(default_factory=Moments)  # residual r = x - baseline
    up: Moments = field(default_factory=Moments)  # r - mean for r above the mean (split normal)
    down: Moments = field(default_factory=Moments)
    logm: Moments = field(default_factory=Moments)  # log(x + c) - log(b + c)
    ratio: Moments = field(default_factory=Moments)  # (x + c) / (b + c)
    mix_w: list[float] = field(default_factory=lambda: [0.5, 0.5])
    mix: list[Moments] = field(default_factory=lambda: [Moments(), Moments()])
    evidence: dict[str, float] = field(default_factory=dict)
    valid: dict[str, bool] = field(default_factory=dict)
    scale: float = 0.0
    offset: float = 1.0  # c: keeps log and ratio finite at zero
    evidence_calls: int = 0
    offset_set: bool = False
    sd_cache: float | None = None
    evidence_decay: float = 1.0

    def forget(self, factor: float) -> None:
        """Keep only ``factor`` of the weight of the past (after a change in the series)."""
        for m in (self.moments, self.up, self.down, self.logm, self.ratio, *self.mix):
            m.decay(factor)
        self.evidence = {k: v * factor for k, v in self.evidence.items()}
        self.sd_cache = None

    def candidates(self) -> list[str]:
        """Names of the candidates still fit for this series.

        The count candidates compete on metric series too, until a negative or fractional
        value rules them out: a metric may well be a count (requests, tweets, rides).
        """
        names = ["normal", "split_normal", "student_t", "mixture", "lognormal", "gamma"]
        names += ["poisson", "negbin"]
        return [n for n in names if self.valid.get(n, True)]

    def reference(self) -> str:
        """The simple candidate the others must beat, and whose tails are the thinnest allowed.

        For counts the negative binomial. For a metric the normal, unless the values have all
        been non-negative integers and the negative binomial has at least as much evidence: a
        normal's right tail is far too thin for skewed counts (a 2 where 0.05 is typical is a
        1e-3 event, not 1e-5), while under-dispersed integers (a gauge) keep the normal.
        """
        names = self.candidates()
        if "negbin" not in names:
            return "normal"
        if self.is_count:
            return "negbin"
        ev = self.evidence
        if "negbin" in ev and ev["negbin"] >= ev.get("normal", -math.inf):
            return "negbin"
        return "normal"

    def best(self) -> str:
        """The candidate with the most evidence, beyond :data:`OCCAM` nats over the reference.

        Until there is evidence: ``normal``. The margin keeps the simple reference unless another
        shape fits clearly better (otherwise heavy tails win on the model's own early errors and
        mute real spikes).
        """
        if self.moments.n < 8.0 or not self.evidence:
            return "normal"
        names = self.candidates()
        # The reference needs no margin.
        reference = self.reference()
        return max(
            names,
            key=lambda n: self.evidence.get(n, -math.inf) - (0.0 if n == reference else OCCAM),
        )

    # ----------------------------------------------------------------- spreads
    def sd(self) -> float:
        """Residual standard deviation, floored by the value scale (cached until next update)."""
        if self.sd_cache is None:
            floor = max(SD_FLOOR_FRACTION * self.scale, 1e-9)
            self.sd_cache = max(math.sqrt(self.moments.var), floor)
        return self.sd_cache

    def _split_sds(self) -> tuple[float, float]:
        base = self.sd()
        hi = math.sqrt(self.up.var + self.up.mean**2) if self.up.n > 2.0 else base
        lo = math.sqrt(self.down.var + self.down.mean**2) if self.down.n > 2.0 else base
        floor = 0.05 * base
        return max(lo, floor), max(hi, floor)

    def _mixture_params(self) -> list[tuple[float, float, float]]:
        floor = 0.05 * self.sd()
        out = []
        for w, m in zip(self.mix_w, self.mix, strict=True):
            sd = max(math.sqrt(m.var), floor) if m.n > 2.0 else self.sd()
            out.append((w, m.mean if m.n > 0 else self.moments.mean, sd))
        return out

    # -------------------------------------------------------------- densities
    def log_density(self, name: str, x: float, baseline: float) -> float:
        """Log predictive density of value ``x`` under candidate ``name``."""
        r = x - baseline
        mean, sd = self.moments.mean, self.sd()
        if name == "normal":
            z = (r - mean) / sd
            return -0.5 * z * z - math.log(sd) - LOG_SQRT_2PI
        if name == "split_normal":
            lo, hi = self._split_sds()
            s = hi if r >= mean else lo
            z = (r - mean) / s
            return -0.5 * z * z - math.log(0.5 * (lo + hi)) - LOG_SQRT_2PI
        if name == "student_t":
            s = sd * T_SCALE
            z = (r - mean) / s
            return float(
                special.gammaln((T_DOF + 1) / 2)
                - special.gammaln(T_DOF / 2)
                - 0.5 * math.log(T_DOF * math.pi)
                - math.log(s)
                - (T_DOF + 1) / 2 * math.log1p(z * z / T_DOF)
            )
        if name == "mixture":
            total = 0.0
            for w, m, s in self._mixture_params():
                z = (r - m) / s
                total += w * math.exp(-0.5 * z * z) / (s * math.sqrt(2 * math.pi))
            return math.log(max(total, 1e-300))
        c = self.offset
        if name == "lognormal":
            if x + c <= 0:
                return -math.inf
            y = math.log(x + c) - math.log(self._base(baseline))
            s = max(math.sqrt(self.logm.var), 1e-4)
            z = (y - self.logm.mean) / s
            return -0.5 * z * z - math.log(s) - LOG_SQRT_2PI - math.log(x + c)
        if name == "gamma":
            k, theta = self._gamma_params(baseline)
            if x + c <= 0 or k <= 0:
                return -math.inf
            return float(
                (k - 1) * math.log(x + c)
                - (x + c) / theta
                - special.gammaln(k)
                - k * math.log(theta)
            )
        if name == "poisson":
            mu = max(baseline + mean, 1e-3)
            return float(x * math.log(mu) - mu - special.gammaln(x + 1))
        if name == "negbin":
            mu, n = self._negbin_params(baseline)
            p = n / (n + mu)
            return float(
                special.gammaln(x + n)
                - special.gammaln(n)
                - special.gammaln(x + 1)
                + n * math.log(p)
                + x * math.log1p(-p)
            )
        raise ValueError(f"unknown candidate {name}")

    def _base(self, baseline: float) -> float:
        """The baseline on the offset scale of the log-normal and gamma candidates (> 0)."""
        return max(baseline, 0.0) + self.offset

    def _gamma_params(self, baseline: float) -> tuple[float, float]:
        mean_ratio = max(self.ratio.mean, 1e-6)
        cv2 = max(self.ratio.var / (mean_ratio * mean_ratio), 1e-8)
        k = 1.0 / cv2
        mean = max(self._base(baseline) * mean_ratio, 1e-12)
        return k, mean / k

    def _negbin_params(self, baseline: float) -> tuple[float, float]:
        mu = max(baseline + self.moments.mean, 1e-3)
        var = max(self.moments.var, mu * 1.0001)
        return mu, mu * mu / (var - mu)

    # ----------------------------------------------------------------- tails
    def tails(self, name: str, x: float, baseline: float) -> tuple[float, float]:
        """(P(X <= x), P(X >= x)) under candidate ``name``."""
        r = x - baseline
        mean, sd = self.moments.mean, self.sd()
        if name == "normal":
            z = (r - mean) / sd
            return _tails(normal_cdf(z), normal_sf(z))
        if name == "split_normal":
            lo, hi = self._split_sds()
            w_lo = lo / (lo + hi)
            if r >= mean:
                up = (1 - w_lo) * 2 * normal_sf((r - mean) / hi)
                return _tails(1 - up, up)
            low = w_lo * 2 * normal_sf((mean - r) / lo)
            return _tails(low, 1 - low)
        if name == "student_t":
            z = (r - mean) / (sd * T_SCALE)
            return _tails(float(special.stdtr(T_DOF, z)), float(special.stdtr(T_DOF, -z)))
        if name == "mixture":
            low = up = 0.0
            for w, m, s in self._mixture_params():
                z = (r - m) / s
                low += w * normal_cdf(z)
                up += w * normal_sf(z)
            return _tails(low, up)
        c = self.offset
        if name == "lognormal":
            y = math.log(max(x + c, 1e-300)) - math.log(self._base(baseline))
            s = max(math.sqrt(self.logm.var), 1e-4)
            z = (y - self.logm.mean) / s
            return _tails(normal_cdf(z), normal_sf(z))
        if name == "gamma":
            k, theta = self._gamma_params(baseline)
            v = max(x + c, 0.0) / theta
            return _tails(float(special.gammainc(k, v)), float(special.gammaincc(k, v)))
        if name == "poisson":
            mu = max(baseline + mean, 1e-3)
            k = math.floor(x)
            low = float(special.pdtr(k, mu))
            up = float(special.pdtrc(k - 1, mu)) if k >= 1 else 1.0
            return _tails(low, up)
        if name == "negbin":
            mu, n = self._negbin_params(baseline)
            p = n / (n + mu)
            k = math.floor(x)
            # Regularised incomplete beta: valid for a non-integer dispersion n.
            low = float(special.betainc(n, k + 1, p)) if k >= 0 else 0.0
            up = float(special.betainc(k, n, 1.0 - p)) if k >= 1 else 1.0
            return _tails(low, up)
        raise ValueError(f"unknown candidate {name}")

    def quantile(self, name: str, q: float, baseline: float) -> float:
        """The ``q`` quantile of the value under candidate ``name`` (moment-matched for counts)."""
        z = float(special.ndtri(q))
        mean, sd = self.moments.mean, self.sd()
        if name == "split_normal":
            lo, hi = self._split_sds()
            return baseline + mean + z * (hi if z >= 0 else lo)
        if name == "lognormal":
            s = max(math.sqrt(self.logm.var), 1e-4)
            c = self.offset
            return self._base(baseline) * math.exp(self.logm.mean + z * s) - c
        if name == "gamma":
            k, theta = self._gamma_params(baseline)
            return float(special.gammaincinv(k, q)) * theta - self.offset
        if name == "student_t":
            return baseline + mean + float(special.stdtrit(T_DOF, q)) * sd * T_SCALE
        if name in ("poisson", "negbin"):
            mu = max(baseline + mean, 1e-3)
            var = mu if name == "poisson" else max(self.moments.var, mu)
            return max(0.0, mu + z * math.sqrt(var))
        return baseline + mean + z * sd

    # ---------------------------------------------------------------- learning
    def score_evidence(self, x: float, baseline: float, decay: float) -> None:
        """Add each candidate's log predictive density of ``x`` to its decayed evidence.

        Sampled on every :data:`EVIDENCE_STRIDE`-th call (with the decay of the calls between),
        which keeps the comparison fair and the update cheap.
        """
        self.evidence_calls += 1
        self.evidence_decay *= decay
        if self.moments.n < 4.0 or self.evidence_calls % EVIDENCE_STRIDE:
            return
        decay, self.evidence_decay = self.evidence_decay, 1.0
        integers = self.valid.get("negbin", True)
        for name in self.candidates():
            if integers and name not in DISCRETE:
                ll = self._log_unit_mass(name, x, baseline)
            else:
                ll = self.log_density(name, x, baseline)
            if not math.isfinite(ll):
                self.valid[name] = False
                continue
            # Cap the damage one outlier can do, so evidence reflects the bulk of the data.
            ll = max(ll, -50.0)
            self.evidence[name] = self.evidence.get(name, 0.0) * decay + ll

    def _log_unit_mass(self, name: str, x: float, baseline: float) -> float:
        """Log probability a continuous candidate gives the unit interval around integer ``x``.

        On integer data the discrete candidates give P(X = x); a continuous density is only
        comparable with that while it is spread over more than one unit. A series of mostly
        zeros has a normal density far above 1 at 0, which made the normal (with its thin right
        tail) beat the negative binomial on sparse counts.
        """
        below = self.tails(name, x - 0.5, baseline)
        above = self.tails(name, x + 0.5, baseline)
        # Difference on the side of the smaller tail, where it is not lost to rounding.
        mass = max(above[0] - below[0], below[1] - above[1])
        return math.log(max(mass, 1e-300))

    def learn(
        self, x: float, baseline: float, w: float, decay: float, raw: float | None = None
    ) -> None:
        """Update every candidate's statistics with ``x`` (weight ``w``, after ``decay``).

        ``raw``: the value before the caller winsorised it into ``x``; the mixture learns it.
        """
        if x < 0:
            self.valid["lognormal"] = self.valid["gamma"] = False
        if x < 0 or x != math.floor(x):
            self.valid["poisson"] = self.valid["negbin"] = False
        self.sd_cache = None
        self.scale = max(self.scale * decay, abs(x), abs(baseline))
        for m in (self.moments, self.up, self.down, self.logm, self.ratio, *self.mix):
            m.decay(decay)
        if not self.offset_set and not self.is_count:
            # The log offset is fixed once, from the first value's magnitude (scale-free).
            self.offset = max(0.05 * abs(x), 1e-9) if x != 0 else 1e-3
        self.offset_set = True
        r = x - baseline
        prior_mean = self.moments.mean
        self.moments.add(r, w)
        (self.up if r >= prior_mean else self.down).add(r - prior_mean, w)
        c = self.offset
        if x + c > 0:
            self.logm.add(math.log(x + c) - math.log(self._base(baseline)), w)
            self.ratio.add((x + c) / self._base(baseline), w)
        # A metric's mixture learns every value at full weight: a second mode (a daily batch
        # job, a recurring burst) must be learnable though it is an outlier for the others.
        # A count's learns at the value's weight: after one burst of 142 errors in a trail of
        # single ones the mixture had that mode and won the shape comparison, and the same
        # burst the next day was p ~ 2e-2; a count's recurring burst is learnt by the outlier
        # model's hourly rate and the daily profile (count_trails.py's nightly bursts: unchanged).
        self._learn_mixture(r if raw is None else raw - baseline, w if self.is_count else 1.0)

    def _learn_mixture(self, r: float, w: float) -> None:
        """One step of online EM for the two-component mixture."""
        if self.mix[0].n + self.mix[1].n < 2.0:
            # Seed the components on either side of the first residuals.
            idx = 0 if self.mix[0].n <= self.mix[1].n else 1
            self.mix[idx].add(r, w)
            return
        params = self._mixture_params()
        dens = []
        for pw, m, s in params:
            z = (r - m) / s
            dens.append(pw * math.exp(-0.5 * z * z) / s)
        total = sum(dens)
        resp = [d / total for d in dens] if total > 0 else [0.5, 0.5]
        for i in range(2):
            self.mix[i].add(r, w * resp[i])
        n = self.mix[0].n + self.mix[1].n
        if n > 0:
            self.mix_w = [self.mix[0].n / n, self.mix[1].n / n]
