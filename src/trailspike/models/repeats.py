"""A value repeated exactly, bucket after bucket, in a series whose values rarely repeat.

A stuck sensor, a frozen agent or a cache serving one stale figure shows as the same value
again and again. Neither view of :mod:`.series` sees it: every repeat sits near the baseline, and
the multi-bucket mean of their normal scores is unremarkable. But in a series of continuous
values (bytes, latencies, CPU with many decimals) an exact repeat is itself rare, and a run of
them is far rarer. :class:`RepeatModel` learns how often a bucket repeats the previous value
(``r``) and how often a repeat follows a repeat (``q``), both decayed like the rest of the model,
and scores a run of ``k`` repeats as ``r * q^(k-1)`` (a two-state Markov chain): where repeats
come in pairs now and then (a metric at two decimals in a quiet hour), the second one is not
judged by the rarity of the first.

Implementation decisions: only series whose repeat rate is below :data:`MAX_REPEAT_RATE` are
judged: counts and coarse readings repeat all the time, and whether a run of zeros is unusual
depends on the value (a transition model per value), which this does not try to be. The rate
has a prior of :data:`PRIOR_REPEATS` repeats in :data:`PRIOR_BUCKETS` buckets, so a young
series is not sure that values never repeat (``q`` starts at 0.1), and :data:`MIN_BUCKETS` of
history are needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_REPEAT_RATE = 0.01
PRIOR_REPEATS = 1.0
PRIOR_BUCKETS = 10.0
MIN_BUCKETS = 100.0


@dataclass
class RepeatModel:
    """The decayed rate at which a bucket repeats the previous value, and the current run."""

    repeats: float = 0.0
    seen: float = 0.0
    # The same after a repeat: how often a run goes on.
    repeats_after: float = 0.0
    seen_after: float = 0.0
    run: int = 0
    last: float = math.nan

    def rate(self) -> float:
        """Posterior mean rate of repeats.

        >>> RepeatModel(repeats=0.0, seen=990.0).rate()
        0.001
        """
        return (self.repeats + PRIOR_REPEATS) / (self.seen + PRIOR_BUCKETS)

    def rate_after(self) -> float:
        """Posterior mean rate of a repeat right after a repeat."""
        return (self.repeats_after + PRIOR_REPEATS) / (self.seen_after + PRIOR_BUCKETS)

    def probability(self, value: float) -> float:
        """How likely a run as long as the one ``value`` would extend is (1 when not judged).

        >>> m = RepeatModel(repeats=0.0, seen=990.0, run=1, last=5.0)
        >>> m.probability(5.0), m.probability(6.0)
        (0.0001, 1.0)
        """
        if value != self.last or self.seen < MIN_BUCKETS:
            return 1.0
        r = self.rate()
        if r > MAX_REPEAT_RATE:
            return 1.0
        return max(r * self.rate_after() ** self.run, 1e-300)

    def learn(self, value: float, decay: float) -> None:
        repeated = 1.0 if value == self.last else 0.0
        if self.run > 0:
            self.repeats_after = self.repeats_after * decay + repeated
            self.seen_after = self.seen_after * decay + 1.0
        self.repeats = self.repeats * decay + repeated
        self.seen = self.seen * decay + 1.0
        self.run = self.run + 1 if repeated else 0
        self.last = value
