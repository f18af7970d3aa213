"""Generic generated series through the NAB detector: quiet on clean patterns, quick on changes.

Usage: ``.venv/bin/python benchmarks/series_shapes.py [--seed N | --seeds 1,2,3] [--where]``

NAB's 17 AWS files are one sample of real behaviour; this prints how the engine's metric
detector (``trailspike.eval.nab.detect_series``: one configuration, a fresh model per series)
treats shapes any monitored metric can take: flat lines, clean and noisy cycles, counts, a
weekly pattern at half-hour steps, hourly prices, irregular timestamps, and jumps, flat
stretches, bursts, missed cycles and a repeated attack on top of them; ``shapes_more.py`` adds
a nightly job, noise and drift changes, a stuck sensor, a working week, office-hours error
counts and a two-level metric. For each series: alert rows (score >= 0.5) outside the anomaly
after the first 15 % (NAB's probation), and for series with an anomaly how many rows into it
the first alert came and the highest score there; with ``--seeds``, each seed's figure side by
side (``a / b / c``). The figures in docs/models.md come from here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from shapes_more import DAY_ROWS, Array, Shape, more_shapes, row_times  # session 8 shapes

from trailspike.eval.nab import NabSeries, detect_series


@dataclass(frozen=True)
class Outcome:
    """One series on one seed: false alert rows, first alert in the anomaly, its top score."""

    false_at: tuple[tuple[int, float], ...]  # (row, score) of each false alert row
    first: str  # rows into the anomaly, "missed", or "" without an anomaly
    top: str  # the highest score in the anomaly, or ""

    @property
    def false_rows(self) -> int:
        return len(self.false_at)


def _five_minute_shapes(rng: np.random.Generator) -> list[Shape]:
    n = 14 * DAY_ROWS
    i = np.arange(n)
    sine = 50 + 30 * np.sin(2 * np.pi * i / DAY_ROWS)
    square = np.where((i % DAY_ROWS) < DAY_ROWS / 2, 80.0, 20.0)
    noisy_sine: Callable[[], Array] = lambda: sine + rng.normal(0, 2, n)  # noqa: E731
    shapes = [
        Shape("flat line", np.full(n, 42.0)),
        Shape("daily sine, no noise", sine.copy()),
        Shape("daily square wave", square.copy()),
        Shape("daily sine, small noise", noisy_sine()),
        Shape("white noise", 40 + rng.normal(0, 10, n)),
        Shape("Poisson(3) counts", rng.poisson(3, n).astype(float)),
        Shape("Poisson(0.05) counts", rng.poisson(0.05, n).astype(float)),
    ]
    up = noisy_sine()
    up[3000:] += 40
    down = noisy_sine()
    down[3000:] -= 40
    flat = noisy_sine()
    flat[3000:3200] = 50
    missed = noisy_sine()
    missed[3000:3288] = 50 + rng.normal(0, 2, 288)
    spiky = 20 + rng.normal(0, 2, n)
    spikes = rng.random(n) < 0.005
    spikes[3000:3300] = rng.random(300) < 0.08
    spiky[spikes] += 60
    stuck = square.copy()
    stuck[3000:3100] = 80
    shapes += [
        Shape("sine, jump up", up, anomaly=(3000, 3400)),
        Shape("sine, jump down", down, anomaly=(3000, 3400)),
        Shape("sine, flat stretch", flat, anomaly=(3000, 3400)),
        Shape("sine, a day without cycle", missed, anomaly=(3000, 3400)),
        Shape("spike density rises", spiky, anomaly=(3000, 3400)),
        Shape("square wave stuck high", stuck, anomaly=(3000, 3400)),
    ]
    return shapes


def _other_shapes(rng: np.random.Generator) -> list[Shape]:
    # Taxi-like: half-hourly counts, daily swing, weekends lower, 5 % multiplicative noise.
    n = 48 * 7 * 30
    i = np.arange(n)
    hour, dow = (i % 48) / 2, (i // 48) % 7
    level = 15000 + 9000 * np.sin(2 * np.pi * (hour - 8) / 24) - 3000 * (dow >= 5)
    taxi = np.round(rng.poisson(np.maximum(level, 500)) * rng.normal(1, 0.05, n))
    holiday = taxi.copy()
    holiday[48 * 20 : 48 * 21] *= 0.5
    # Tweet-like: five-minute counts, daily swing, over-dispersed.
    m = DAY_ROWS * 16
    mu = 20 + 15 * np.sin(2 * np.pi * (np.arange(m) % DAY_ROWS) / DAY_ROWS)
    tweets = rng.negative_binomial(5, 5 / (5 + mu)).astype(float)
    burst = tweets.copy()
    burst[3500:3530] += rng.poisson(150, 30)
    # Irregular timestamps: gaps of 5 minutes to an hour.
    gaps = np.cumsum(rng.choice([300, 300, 300, 600, 3600], size=4000))
    times = [datetime(2015, 1, 1) + timedelta(seconds=int(g)) for g in gaps]
    irregular = 50 + 5 * np.sin(2 * np.pi * gaps / 86400) + rng.normal(0, 1, 4000)
    shifted = irregular.copy()
    shifted[3000:] += 8
    # Hourly, ad-exchange-like: a price with a daily and a weekday pattern, multiplicative noise.
    h = 24 * 7 * 10
    j = np.arange(h)
    price = (1.0 + 0.4 * np.sin(2 * np.pi * (j % 24) / 24) - 0.2 * ((j // 24) % 7 >= 5)) * np.exp(
        rng.normal(0, 0.08, h)
    )
    price_drop = price.copy()
    price_drop[24 * 50 : 24 * 50 + 12] *= 0.5
    return [
        Shape("hourly prices", price, step=3600),
        Shape("hourly prices, a half-day drop", price_drop, step=3600, anomaly=(1200, 1248)),
        Shape("taxi-like, half-hourly", taxi, step=1800),
        Shape("taxi-like, a holiday", holiday, step=1800, anomaly=(48 * 20, 48 * 21 + 48)),
        Shape("tweet-like counts", tweets),
        Shape("tweet-like, a burst", burst, anomaly=(3500, 3700)),
        Shape("irregular timestamps", irregular, times=times),
        Shape("irregular, level shift", shifted, times=times, anomaly=(3000, 3200)),
    ]


def _noisy_square_shapes(rng: np.random.Generator) -> list[Shape]:
    # A daily 20/80 square wave with noise (sd 4), like NAB's artificial daily series, and the
    # same with one day's high half missing (NAB's "no jump").
    n = 14 * DAY_ROWS
    i = np.arange(n)
    wave = np.where((i % DAY_ROWS) < DAY_ROWS / 2, 80.0, 20.0) + rng.normal(0, 4, n)
    no_jump = wave.copy()
    no_jump[2880:3024] = 20 + rng.normal(0, 4, 144)
    return [
        Shape("noisy square wave", wave),
        Shape("noisy square, a day no jump", no_jump, anomaly=(2880, 3280)),
    ]


def _repeated_attack_shapes(rng: np.random.Generator) -> list[Shape]:
    # Counts in 15-minute buckets (the spike job's span) that an attack raises to ~60 for three
    # buckets, once on day 5 (not counted) and again on day 9 (the anomaly): a past attack must
    # not make the next one look ordinary. Once on Poisson(3) counts, once on two-valued counts
    # (a quiet 1 and a busy 12, at random).
    day = 96
    n = 12 * day
    first, again = 5 * day + 40, 9 * day + 60
    plain = rng.poisson(3, n).astype(float)
    busy = rng.random(n) < 0.35
    two_valued = np.where(busy, rng.poisson(12, n), rng.poisson(1, n)).astype(float)
    shapes = []
    for name, values in (("counts", plain), ("two-valued counts", two_valued)):
        for start in (first, again):
            values[start : start + 3] = 60 + rng.integers(0, 5, 3)
        shapes.append(
            Shape(
                f"{name}, attack again",
                values,
                step=900,
                anomaly=(again, again + 3),
                ignore=(first, first + 12),
            )
        )
    return shapes


def _measure(shape: Shape) -> Outcome:
    n = len(shape.values)
    series = NabSeries(shape.name, row_times(shape), [float(v) for v in shape.values])
    scores = np.array(detect_series(series))
    alert = scores >= 0.5
    alert[: min(n * 15 // 100, 750)] = False
    if shape.ignore is not None:
        alert[shape.ignore[0] : shape.ignore[1]] = False
    first, top = "", ""
    if shape.anomaly is not None:
        a, b = shape.anomaly
        hits = np.nonzero(alert[a:b])[0]
        alert[a:b] = False
        first = str(int(hits[0])) if len(hits) else "missed"
        top = f"{scores[a:b].max():.2f}"
    false_at = tuple((int(row), float(scores[row])) for row in np.nonzero(alert)[0])
    return Outcome(false_at, first, top)


def all_shapes(seed: int) -> list[Shape]:
    """Every shape for one seed, in the order of the table."""
    rng = np.random.default_rng(seed)
    # Shapes added later draw from their own generator, so the earlier ones stay as they were.
    later = _noisy_square_shapes(np.random.default_rng(seed + 1000))
    later += _repeated_attack_shapes(np.random.default_rng(seed + 2000))
    return [*_five_minute_shapes(rng), *_other_shapes(rng), *later, *more_shapes(seed)]


def run_seed(seed: int) -> tuple[list[Shape], list[Outcome], float]:
    """The shapes of one seed, their outcomes, and the CPU seconds it took."""
    cpu = time.process_time()
    shapes = all_shapes(seed)
    outcomes = [_measure(shape) for shape in shapes]
    return shapes, outcomes, time.process_time() - cpu


def _side_by_side(values: Sequence[str]) -> str:
    return " / ".join(values) if any(values) else ""


def print_table(shapes: Sequence[Shape], per_seed: Sequence[Sequence[Outcome]]) -> None:
    """One line per series; each column holds every seed's figure, separated by " / "."""
    rows = [("series", "rows", "false alert rows", "first alert at", "top score")]
    for k, shape in enumerate(shapes):
        outcomes = [seed_outcomes[k] for seed_outcomes in per_seed]
        rows.append(
            (
                shape.name,
                str(len(shape.values)),
                _side_by_side([str(o.false_rows) for o in outcomes]),
                _side_by_side([o.first for o in outcomes]),
                _side_by_side([o.top for o in outcomes]),
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(5)]
    for name, *cells in rows:
        numbers = " ".join(f"{c:>{w}}" for c, w in zip(cells, widths[1:], strict=True))
        print(f"{name:{widths[0]}} {numbers}")


def print_where(runs: Sequence[tuple[int, Sequence[Shape], Sequence[Outcome]]]) -> None:
    """Each false alert row: its day (from the series' start), weekday, time, value and score."""
    print("\nFalse alert rows: row (day, weekday time, value, score)")
    for k in range(len(runs[0][1])):
        for seed, shapes, outcomes in runs:  # each seed's own series: values and gaps differ
            shape, times = shapes[k], row_times(shapes[k])
            rows = [
                f"{row} (d{(times[row] - times[0]).days}, {times[row]:%a %H:%M}, "
                f"{shape.values[row]:.3g}, {score:.2f})"
                for row, score in outcomes[k].false_at
            ]
            if rows:
                print(f"{shape.name}, seed {seed}: " + "; ".join(rows))


def _seeds(args: argparse.Namespace) -> list[int]:
    if args.seeds:
        return [int(part) for part in args.seeds.split(",")]
    return [args.seed]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--seed", type=int, default=1, help="noise seed (default 1)")
    which.add_argument("--seeds", help="several seeds, comma-separated (e.g. 1,2,3), side by side")
    parser.add_argument("--where", action="store_true", help="also list every false alert row")
    args = parser.parse_args()
    seeds = _seeds(args)
    runs = [run_seed(seed) for seed in seeds]
    print_table(runs[0][0], [outcomes for _, outcomes, _ in runs])
    if args.where:
        print_where([(seed, run[0], run[1]) for seed, run in zip(seeds, runs, strict=True)])
    cpu = " / ".join(f"{seconds:.1f}" for _, _, seconds in runs)
    print(f"\nCPU seconds per seed: {cpu}")


if __name__ == "__main__":
    main()
