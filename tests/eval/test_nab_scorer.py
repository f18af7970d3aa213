"""NAB's scoring rules on tiny hand-computed cases."""

from __future__ import annotations

import math

import pytest

from trailspike.eval.nab_scorer import (
    CostProfile,
    FileRows,
    optimise_threshold,
    probationary_length,
    row_weights,
    scaled_sigmoid,
    score_at_threshold,
)

STANDARD = CostProfile("standard", 1.0, 1.0, 0.11)


def sig(y: float) -> float:
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def test_scaled_sigmoid_matches_nab_formula() -> None:
    for y in (-1.0, -0.5, -0.1, 0.0, 0.5, 2.9):
        assert scaled_sigmoid(y) == pytest.approx(sig(y))
    assert scaled_sigmoid(3.01) == -1.0


def test_probationary_length_is_15_percent_capped_at_750() -> None:
    assert probationary_length(100) == 15
    assert probationary_length(1243) == 186
    assert probationary_length(100000) == 750


def _file(scores: list[float], windows: list[tuple[int, int]]) -> FileRows:
    return FileRows("f", scores, row_weights(len(scores), windows), len(windows))


def test_earliest_detection_in_window_counts_once() -> None:
    # 20 rows, probation = 3; one window rows 10..14 (width 5).
    scores = [0.0] * 20
    scores[12] = scores[13] = 0.9
    result = score_at_threshold([_file(scores, [(10, 14)])], STANDARD, 0.5)
    # Row 12: y = -(14 - 12 + 1) / 5 = -0.6; weight sig(-0.6) / sig(-1).
    expected = sig(-0.6) / sig(-1.0)
    assert result.raw == pytest.approx(expected)
    assert (result.tp, result.fp, result.fn) == (1, 0, 0)
    # Normalised: 100 (S - S_null) / (S_perfect - S_null) with S_null = -1, S_perfect = 1.
    assert result.normalized == pytest.approx(100 * (expected + 1) / 2)


def test_false_positives_before_and_after_a_window() -> None:
    scores = [0.0] * 20
    scores[5] = 1.0  # before any window: -fpWeight
    scores[17] = 1.0  # after window 10..14: sig(|14 - 17| / (5 - 1)) * fpWeight
    result = score_at_threshold([_file(scores, [(10, 14)])], STANDARD, 0.5)
    expected = -0.11 + 0.11 * sig(3 / 4) - 1.0  # plus the missed window
    assert result.raw == pytest.approx(expected)
    assert (result.tp, result.fp, result.fn) == (0, 2, 1)


def test_probationary_rows_are_ignored() -> None:
    scores = [1.0, 1.0, 1.0] + [0.0] * 17  # 3 probationary rows
    result = score_at_threshold([_file(scores, [])], STANDARD, 0.5)
    assert result.raw == 0.0 and result.fp == 0


def test_null_and_perfect_detectors_score_0_and_100() -> None:
    windows = [(10, 14)]
    null = score_at_threshold([_file([0.0] * 20, windows)], STANDARD, 0.5)
    perfect_scores = [0.0] * 20
    perfect_scores[10] = 1.0
    perfect = score_at_threshold([_file(perfect_scores, windows)], STANDARD, 0.5)
    assert null.normalized == pytest.approx(0.0)
    assert perfect.normalized == pytest.approx(100.0)


def test_optimiser_finds_the_best_threshold_exhaustively() -> None:
    scores = [0.0] * 40
    scores[20] = 0.6  # in window 20..24
    scores[8] = 0.7  # false positive before the window
    scores[30] = 0.9  # false positive after the window
    files = [_file(scores, [(20, 24)])]
    best = optimise_threshold(files, STANDARD)
    brute = max(
        (score_at_threshold(files, STANDARD, t) for t in (0.6, 0.7, 0.9, 1.1)),
        key=lambda r: r.raw,
    )
    assert best.raw == pytest.approx(brute.raw)
    assert best.threshold == 0.6 and best.tp == 1 and best.fp == 2


def test_threshold_is_shared_across_files() -> None:
    a = [0.0] * 20
    a[10] = 0.4
    b = [0.0] * 20
    b[12] = 0.8
    b[4] = 0.6  # FP in b before its window
    files = [_file(a, [(10, 14)]), _file(b, [(12, 16)])]
    best = optimise_threshold(files, STANDARD)
    assert best.threshold == 0.4
    assert best.tp == 2 and best.fp == 1
    assert best.raw == pytest.approx(
        sig(-1.0) / sig(-1.0) + 1.0 - 0.11  # both windows at their first row, one FP
    )
