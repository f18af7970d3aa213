"""How often a series has outliers, at which time of day, and how big they are.

A series with routine spikes (a nightly batch job, a noisy host) should not raise an alert for
every spike, while a spike in a quiet series, or at a quiet time of day, or bigger than any seen
before, should. :class:`OutlierModel` turns the bulk distribution's tail probability into a
*contaminated* one::

    P(X >= x) = (1 - eps) * P_bulk(X >= x) + eps * S(z)

where ``eps`` is the decayed rate of outliers in this hour of the day (shrunk towards the
series' overall rate) and ``S(z)`` the share of past outliers at least as large as this one
(plus a pseudo-count of :data:`WITHIN_PSEUDO`; a value beyond all of them gets a share that
falls as ``(z_max / z)^4``). This is Elastic's
"high variance" reduction (scores are lower in intervals that are often noisy), made explicit.

Implementation decisions: an outlier is a bucket whose two-sided bulk probability is below
:data:`OUTLIER_PROBABILITY`, and consecutive outlier buckets count as one episode for the
rate; sizes are kept as standardised residuals (at most :data:`MAX_SAMPLES`, least weight
dropped first) so the state stays small; hour-of-day rates use 24 bins (one bin for spans of a
day or more) shrunk towards the overall rate with :data:`PRIOR_WEIGHT` buckets of prior weight.
The caller weights each outlier by how plausible it was (an alert-level one-off counts little),
because the shrinkage spreads one episode over every hour: without the weight, one past attack
made every later outlier look ~1e-3 likely. The running episode's own count and sizes are left
out while it is scored, so a burst cannot explain itself. New fields have class-level defaults,
so states saved before them load unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

OUTLIER_PROBABILITY = 1e-4
OUTLIER_Z = 3.9  # |z| of a normal with two-sided probability 1e-4
MAX_SAMPLES = 64
PRIOR_WEIGHT = 50.0
PRIOR_RATE = OUTLIER_PROBABILITY  # prior: no more outliers than the bulk tail itself predicts
BEYOND_POWER = 4.0
WITHIN_PSEUDO = 0.5  # pseudo-count: a size seen before is not impossible to see again


@dataclass
class OutlierModel:
    """Decayed outlier rates per hour of day, and a sample of outlier sizes."""

    bucket_span: float
    seen: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(24))
    outliers: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(24))
    samples: list[tuple[float, float]] = field(default_factory=list)  # (z, log weight at add)
    clock: float = 0.0  # running sum of log(decay): sample weight = exp(logw_at_add - clock)
    in_episode: bool = False
    # The running episode's own contribution (its bin, the decayed count it added, the number
    # of size samples it appended), left out while it is scored: a burst cannot explain itself.
    episode_bin: int = 0
    episode_count: float = 0.0
    episode_samples: int = 0

    def _bin(self, t: float) -> int:
        if self.bucket_span >= 86400.0:
            return 0
        return int((t % 86400.0) // 3600.0)

    def rate(self, t: float) -> float:
        """Outlier rate for the hour of ``t``, shrunk towards the overall rate.

        While an episode runs, its own count is left out: the rate is the one that held before
        the burst began, so the burst's second bucket is judged like its first.
        """
        i = self._bin(t)
        own = self.episode_count if self.in_episode else 0.0
        in_bin = float(self.outliers[i]) - (own if i == self.episode_bin else 0.0)
        total_seen = float(self.seen.sum())
        overall = (float(self.outliers.sum()) - own + PRIOR_WEIGHT * PRIOR_RATE) / (
            total_seen + PRIOR_WEIGHT
        )
        return (max(in_bin, 0.0) + PRIOR_WEIGHT * overall) / (float(self.seen[i]) + PRIOR_WEIGHT)

    def share_beyond(self, z: float, weigh_sizes: bool = False) -> float:
        """Share of past same-signed outliers at least as extreme as ``z`` (never 0).

        The pseudo-count :data:`WITHIN_PSEUDO` holds in full up to the largest outlier seen,
        and falls as ``(z_max / z)^4`` beyond it. With ``weigh_sizes`` it holds in full only as
        far as a whole sample's weight reaches: an outlier learnt at a weight of 0.01 (an
        attack) extends it by 1 %, and the rest falls from the largest size below ``z``.
        Count series use it: one burst of 142 messages had made the same burst the next day
        "within the sizes seen" (a share of 0.5 instead of 0.01-0.03).

        >>> m = OutlierModel(300.0, samples=[(5.0, 0.0), (10.0, 0.0), (-6.0, 0.0)])
        >>> m.share_beyond(6.0), m.share_beyond(1.0)
        (0.375, 0.625)
        >>> round(m.share_beyond(20.0), 4)
        0.0078
        >>> light = OutlierModel(300.0, samples=[(40.0, math.log(0.01))])
        >>> round(light.share_beyond(39.0), 3), round(light.share_beyond(39.0, True), 4)
        (0.505, 0.0149)
        """
        kept = len(self.samples) - (
            min(self.episode_samples, len(self.samples)) if self.in_episode else 0
        )
        weighted = [(s, math.exp(a - self.clock)) for s, a in self.samples[:kept]]
        same = [(s, w) for s, w in weighted if s * z > 0]
        total = sum(w for _, w in weighted) + 1.0
        mag = abs(z)
        beyond = sum(w for s, w in same if abs(s) >= mag)
        if weigh_sizes:
            below = max([abs(s) for s, _ in same if abs(s) < mag], default=OUTLIER_Z)
            tail = 1.0 if mag <= below else (below / mag) ** BEYOND_POWER
            reach = min(1.0, beyond)
            extra = WITHIN_PSEUDO * (reach + (1.0 - reach) * tail)
            return max(beyond + extra, 1e-12) / total
        z_max = max([abs(s) for s, _ in same], default=OUTLIER_Z)
        extra = WITHIN_PSEUDO if mag <= z_max else WITHIN_PSEUDO * (z_max / mag) ** BEYOND_POWER
        return max(beyond + extra, 1e-12) / total

    def contaminate(
        self, t: float, z: float, lower: float, upper: float, weigh_sizes: bool = False
    ) -> tuple[float, float]:
        """Mix the bulk tails ``(lower, upper)`` of standardised residual ``z`` with outliers."""
        eps = self.rate(t)
        share = self.share_beyond(z, weigh_sizes)
        if z >= 0:
            upper = (1.0 - eps) * upper + eps * share
        else:
            lower = (1.0 - eps) * lower + eps * share
        return lower, upper

    def forget(self) -> None:
        """Drop what has been learnt (the residuals it was measured on were stale)."""
        self.seen[:] = 0.0
        self.outliers[:] = 0.0
        self.samples.clear()
        self.in_episode = False
        self.episode_count, self.episode_samples = 0.0, 0

    def learn(
        self, t: float, z: float, is_outlier: bool, decay: float, weight: float = 1.0
    ) -> None:
        """Record one bucket: its standardised residual ``z`` and whether it was an outlier.

        ``weight`` (0..1) is how much an outlier counts towards the rate and the sizes: the
        caller passes less than 1 for an outlier that was itself anomalous for this model, so a
        one-off attack does not teach the model that attacks are routine (ml-cpp likewise
        learns a sample with a weight that falls with its probability).
        """
        self.seen *= decay
        self.outliers *= decay
        self.episode_count *= decay
        self.clock += math.log(decay)
        i = self._bin(t)
        self.seen[i] += 1.0
        if not is_outlier:
            self.in_episode = False
            return
        # A run of outlier buckets is one episode: a three-bucket attack is one event, not three.
        w = max(0.0, min(1.0, weight))
        if not self.in_episode:
            self.outliers[i] += w
            self.episode_bin, self.episode_count, self.episode_samples = i, w, 0
        self.in_episode = True
        if w <= 0.0:
            return
        self.samples.append((z, self.clock + math.log(w)))
        self.episode_samples += 1
        if len(self.samples) > MAX_SAMPLES:
            # Drop the sample with the least weight now (the oldest, unless one was learnt light).
            k = min(range(len(self.samples)), key=lambda j: self.samples[j][1])
            if k >= len(self.samples) - self.episode_samples:
                self.episode_samples -= 1
            del self.samples[k]
