"""NAB's scoring rules: windows, probation, sigmoid weighting, threshold sweep, normalisation.

This follows the Numenta Anomaly Benchmark's sweeper (``nab/sweeper.py``) as summarised in
``../shared/data/nab_aws/SOURCE.md``:

- the first ``min(floor(0.15 n), 750)`` rows of a file are probationary and never scored;
- inside a window (rows ``L..R``, width ``w = R - L + 1``) a detection at row ``i`` is worth
  ``tpWeight * sigma(y) / sigma(-1)`` with ``y = -(R - i + 1) / w`` and
  ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` (``-1`` when ``y > 3``); only the earliest (highest
  weighted) detection of a window counts;
- a window without a detection costs ``fnWeight``;
- every detection outside a window is a false positive worth ``fpWeight * sigma(y)`` with
  ``y = |i - R_prev| / (w_prev - 1)`` after a window, ``-fpWeight`` before any window;
- the corpus score at a threshold sums all files; the optimised threshold maximises it;
- the normalised score is ``100 (S - S_null) / (S_perfect - S_null)`` with
  ``S_null = -fnWeight * windows`` and ``S_perfect = tpWeight * windows``.

Implementation decisions: instead of NAB's local search over thresholds, every distinct score is
tried exactly, by one descending sweep over all rows of the corpus (O(n log n)); this finds the
true maximum, which NAB's search approximates. A detection is ``score >= threshold`` as in NAB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CostProfile:
    """NAB's cost matrix for one application profile."""

    name: str
    tp_weight: float
    fn_weight: float
    fp_weight: float


STANDARD_PROFILES: tuple[CostProfile, ...] = (
    CostProfile("standard", 1.0, 1.0, 0.11),
    CostProfile("reward_low_FP_rate", 1.0, 1.0, 0.22),
    CostProfile("reward_low_FN_rate", 1.0, 2.0, 0.11),
)


def scaled_sigmoid(position: float) -> float:
    """NAB's ``scaledSigmoid``: ~1 at the start of a window, 0 at its end, -1 far after it.

    >>> round(scaled_sigmoid(-1.0), 4), scaled_sigmoid(0.0), scaled_sigmoid(3.5)
    (0.9866, 0.0, -1.0)
    """
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probationary_length(n_rows: int, fraction: float = 0.15) -> int:
    """Rows at the start of a file that are never scored.

    >>> probationary_length(4032), probationary_length(10000)
    (604, 750)
    """
    return int(min(math.floor(fraction * n_rows), fraction * 5000))


@dataclass(frozen=True)
class RowWeight:
    """What detecting one row is worth: a window id (TP) or ``None`` (FP), and its weight."""

    window: int | None
    tp_value: float  # unweighted scaled sigmoid / sigmoid(-1), for rows in a window
    fp_value: float  # unweighted scaled sigmoid (negative), for rows outside windows


def row_weights(n_rows: int, windows: Sequence[tuple[int, int]]) -> list[RowWeight | None]:
    """Per-row scoring weights for a file with ``windows`` as inclusive row-index ranges.

    Probationary rows are ``None``. Windows must be sorted and disjoint.

    >>> w = row_weights(10, [(6, 8)])
    >>> w[0] is None, w[6].window, round(w[6].tp_value, 3), w[9].window
    (True, 0, 1.0, None)
    """
    max_tp = scaled_sigmoid(-1.0)
    prob = probationary_length(n_rows)
    out: list[RowWeight | None] = [None] * n_rows
    prev_right: int | None = None
    prev_width = 0
    wi = 0
    for i in range(n_rows):
        while wi < len(windows) and windows[wi][1] < i:
            prev_right, prev_width = windows[wi][1], windows[wi][1] - windows[wi][0] + 1
            wi += 1
        in_window = wi < len(windows) and windows[wi][0] <= i <= windows[wi][1]
        if i < prob:
            continue
        if in_window:
            left, right = windows[wi]
            position = -(right - i + 1) / (right - left + 1)
            out[i] = RowWeight(wi, scaled_sigmoid(position) / max_tp, 0.0)
        elif prev_right is None:
            out[i] = RowWeight(None, 0.0, -1.0)
        else:
            position = abs(prev_right - i) / max(prev_width - 1, 1)
            out[i] = RowWeight(None, 0.0, scaled_sigmoid(position))
    return out


@dataclass(frozen=True)
class FileRows:
    """One file ready for scoring: its scores, row weights and number of windows."""

    name: str
    scores: Sequence[float]
    weights: Sequence[RowWeight | None]
    n_windows: int


@dataclass(frozen=True)
class SweepResult:
    """Corpus score at one threshold, raw and normalised, with its confusion counts."""

    threshold: float
    raw: float
    normalized: float
    tp: int
    fp: int
    fn: int


def _normalise(raw: float, n_windows: int, profile: CostProfile) -> float:
    null = -profile.fn_weight * n_windows
    perfect = profile.tp_weight * n_windows
    if perfect == null:
        return 0.0
    return 100.0 * (raw - null) / (perfect - null)


def score_at_threshold(
    files: Sequence[FileRows], profile: CostProfile, threshold: float
) -> SweepResult:
    """The corpus score when every row with ``score >= threshold`` is a detection."""
    raw, tp, fp, fn, total_windows = 0.0, 0, 0, 0, 0
    for f in files:
        best: dict[int, float] = {}
        for score, w in zip(f.scores, f.weights, strict=True):
            if w is None or score < threshold:
                continue
            if w.window is not None:
                best[w.window] = max(best.get(w.window, -math.inf), w.tp_value)
            else:
                raw += profile.fp_weight * w.fp_value
                fp += 1
        raw += profile.tp_weight * sum(best.values())
        raw -= profile.fn_weight * (f.n_windows - len(best))
        tp += len(best)
        fn += f.n_windows - len(best)
        total_windows += f.n_windows
    return SweepResult(threshold, raw, _normalise(raw, total_windows, profile), tp, fp, fn)


def optimise_threshold(files: Sequence[FileRows], profile: CostProfile) -> SweepResult:
    """The threshold (one for the whole corpus) with the best score, by an exact sweep."""
    events: list[tuple[float, int, int]] = []  # (score, file, row)
    total_windows = sum(f.n_windows for f in files)
    for fi, f in enumerate(files):
        for ri, (score, w) in enumerate(zip(f.scores, f.weights, strict=True)):
            if w is not None:
                events.append((score, fi, ri))
    events.sort(key=lambda e: -e[0])
    raw = -profile.fn_weight * total_windows
    best_tp: dict[tuple[int, int], float] = {}
    fp = 0
    best = SweepResult(math.inf, raw, _normalise(raw, total_windows, profile), 0, 0, total_windows)
    i = 0
    while i < len(events):
        threshold = events[i][0]
        while i < len(events) and events[i][0] == threshold:
            _, fi, ri = events[i]
            w = files[fi].weights[ri]
            assert w is not None
            if w.window is None:
                raw += profile.fp_weight * w.fp_value
                fp += 1
            else:
                key = (fi, w.window)
                old = best_tp.get(key)
                if old is None:
                    raw += profile.fn_weight + profile.tp_weight * w.tp_value
                    best_tp[key] = w.tp_value
                elif w.tp_value > old:
                    raw += profile.tp_weight * (w.tp_value - old)
                    best_tp[key] = w.tp_value
            i += 1
        if raw > best.raw:
            n_tp = len(best_tp)
            norm = _normalise(raw, total_windows, profile)
            best = SweepResult(threshold, raw, norm, n_tp, fp, total_windows - n_tp)
    return best
