"""Count series like the spike job's: false alerts on quiet error trails, and sustained rises found.

The spike job models the number of distinct error messages per 15-minute bucket, a small count
in most accounts. This runs the job's series model (``count``, one-sided high) and its score
normaliser over generated trails and counts alerts (score >= 50) after the first two days:

* **false alerts** on trails whose errors are picked at random from a few recurring messages
  (``rate`` errors a bucket on average, each one of ``messages``; a bucket without errors has no
  value, as in the job), 20 trails of 14 days each;
* **rises found**: 8 days of Poisson counts at ``base``, then 6 hours at ``high`` (zero buckets
  skipped), 20 trails each; a rise counts as found when any of its 24 buckets alerts;
* **false alerts on a working week** (session 8): errors at ``busy`` a bucket 08-18 h Monday to
  Friday and ``quiet`` otherwise, each one of ``messages``, 10 trails of 4 weeks from a Monday;
* **false alerts around a nightly burst** (session 8): ``rate`` errors a bucket from 3 messages,
  and every night at 03:00 +/- 45 min 1-3 buckets of ``burst`` +/- 1 distinct messages (a
  housekeeping job's errors), 10 trails of 4 weeks;
* **a burst repeated the next day on a sparse trail** (session 11): 60 days of 1-3 buckets a day
  with ``1 + Poisson(0.3)`` messages (a quiet account), a burst of 142 and 155 distinct
  messages at 03:00, and the same attack (138, 161) at 03:00 the next day, 20 trails: how many
  times each burst alerted, and the median score of the repeat's first bucket.

    .venv/bin/python benchmarks/count_trails.py

Nothing here is asserted: it prints. ``benchmarks/series_shapes.py`` does the same for the NAB
detector (metrics).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trailspike.models.factory import new_normalizer, new_series_model

SPAN = 900.0
DAY = 96
TRAILS = 20
QUIET = ((0.1, 3), (0.42, 3), (1.0, 3), (3.0, 3), (10.0, 3), (1.0, 20), (5.0, 20))
RISES = ((2.0, 4.0), (2.0, 5.0), (2.0, 6.0), (0.5, 2.0), (10.0, 20.0))
WORKDAYS = ((0.1, 2.0, 10), (0.05, 1.0, 5), (0.3, 6.0, 20), (1.0, 15.0, 40))
NIGHTLY = ((0.05, 4), (0.2, 5), (0.5, 8))
WEEKS = 4
MONDAY = 1_767_571_200.0  # 2026-01-05 00:00 UTC


def scores(values: Sequence[float | None], start: float = 1.7e9) -> list[float | None]:
    """The job's 0-100 score of each bucket (None where the bucket has no value)."""
    model = new_series_model("count", "high", SPAN)
    normalizer = new_normalizer()
    out: list[float | None] = []
    last = None
    for i, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        t = start + i * SPAN
        score = model.score_one(t, value)
        # The job skips empty buckets, but its normaliser ages with the time they took.
        normalizer.observe(score.probability, score.confidence, 1.0 if last is None else i - last)
        last = i
        out.append(normalizer.normalize(score.probability, score.confidence))
        model.learn_one(t, value)
    return out


def alerts(values: Sequence[float | None]) -> int:
    return sum(1 for s in values if s is not None and s >= 50)


def quiet_trail(rng: np.random.Generator, rate: float, messages: int) -> list[float | None]:
    """Distinct messages per bucket when errors pick one of ``messages`` at random."""
    out: list[float | None] = []
    for _ in range(DAY * 14):
        errors = int(rng.poisson(rate))
        out.append(float(len(set(rng.integers(0, messages, errors)))) if errors else None)
    return out


def rise_trail(rng: np.random.Generator, base: float, high: float) -> list[float | None]:
    counts = [*rng.poisson(base, DAY * 8), *rng.poisson(high, 24)]
    return [float(c) if c > 0 else None for c in counts]


def distinct(rng: np.random.Generator, errors: int, messages: int) -> float | None:
    return float(len(set(rng.integers(0, messages, errors)))) if errors else None


def workday_trail(
    rng: np.random.Generator, quiet: float, busy: float, messages: int
) -> list[float | None]:
    """Distinct messages per bucket over WEEKS weeks from a Monday, busy in working hours."""
    out: list[float | None] = []
    for i in range(DAY * 7 * WEEKS):
        weekday, hour = (i // DAY) % 7, (i % DAY) * SPAN / 3600
        rate = busy if weekday < 5 and 8 <= hour < 18 else quiet
        out.append(distinct(rng, int(rng.poisson(rate)), messages))
    return out


def nightly_trail(rng: np.random.Generator, rate: float, burst: int) -> list[float | None]:
    """Recurring errors, and a housekeeping job's burst of errors every night near 03:00."""
    out = [distinct(rng, int(rng.poisson(rate)), 3) for _ in range(DAY * 7 * WEEKS)]
    for day in range(7 * WEEKS):
        start = day * DAY + 12 + int(rng.integers(-3, 4))  # 03:00 +/- 45 minutes
        for k in range(int(rng.integers(1, 4))):
            out[start + k] = float(burst + rng.integers(-1, 2))
    return out


def sparse_repeat_trail(rng: np.random.Generator) -> list[float | None]:
    """A quiet account's few errors a day, and the same burst of errors two days running."""
    out: list[float | None] = [None] * (DAY * 62)
    for day in range(62):
        for b in rng.choice(np.arange(20, DAY), size=int(rng.integers(1, 4)), replace=False):
            out[day * DAY + int(b)] = float(1 + rng.poisson(0.3))
    for day, first, second in ((60, 142.0, 155.0), (61, 138.0, 161.0)):
        out[day * DAY + 12], out[day * DAY + 13] = first, second
    return out


def main() -> None:
    print("false alerts in 20 trails x 12 days (errors a bucket / messages: alerts)")
    for rate, messages in QUIET:
        total = sum(
            alerts(scores(quiet_trail(np.random.default_rng(seed), rate, messages))[2 * DAY :])
            for seed in range(TRAILS)
        )
        print(f"  {rate:>5} / {messages:>2}: {total}")
    print("6-hour rises found in 20 trails (base -> high: found, false alerts before it)")
    for base, high in RISES:
        found = false = 0
        for seed in range(TRAILS):
            s = scores(rise_trail(np.random.default_rng(seed + 100), base, high))
            found += alerts(s[DAY * 8 :]) > 0
            false += alerts(s[2 * DAY : DAY * 8])
        print(f"  {base:>4} -> {high:>4}: {found}/{TRAILS}, {false}")
    print(f"false alerts on a working week, 10 trails x {WEEKS} weeks (quiet / busy / messages)")
    for quiet, busy, messages in WORKDAYS:
        total = sum(
            alerts(scores(workday_trail(rng, quiet, busy, messages), MONDAY)[2 * DAY :])
            for rng in map(np.random.default_rng, range(10))
        )
        print(f"  {quiet:>4} / {busy:>4} / {messages:>2}: {total}")
    print(f"false alerts with a nightly burst, 10 trails x {WEEKS} weeks (errors / burst)")
    for rate, burst in NIGHTLY:
        total = sum(
            alerts(scores(nightly_trail(rng, rate, burst), MONDAY)[2 * DAY :])
            for rng in map(np.random.default_rng, range(10))
        )
        print(f"  {rate:>4} / {burst:>2}: {total}")
    print("a burst repeated the next day on a sparse trail, 20 trails")
    first = second = 0
    repeat_scores = []
    for seed in range(TRAILS):
        s = scores(sparse_repeat_trail(np.random.default_rng(seed + 300)))
        first += alerts(s[60 * DAY : 60 * DAY + 14]) > 0
        second += alerts(s[61 * DAY : 61 * DAY + 14]) > 0
        repeat_scores.append(s[61 * DAY + 12] or 0.0)
    median = float(np.median(repeat_scores))
    print(f"  first alerted {first}/{TRAILS}, repeat {second}/{TRAILS}, median score {median:.0f}")


if __name__ == "__main__":
    main()
