"""Run trailspike's metric detector over NAB-format series and score it with NAB's rules.

:func:`detect_series` is the engine's own detector, with one configuration for every file: a
``mean`` detector (series model from :func:`~trailspike.models.factory.new_series_model`, bucket
span = the series' step) whose probabilities go through a per-file score normaliser; the NAB
score of a row is the normalised 0-100 score / 100. :func:`evaluate` runs it over every file named
in a NAB windows file, writes NAB results files (``timestamp,value,anomaly_score,label``) and
scores them with :mod:`.nab_scorer` for each cost profile, with NAB's threshold optimisation and
at the fixed threshold 0.5 (the alert threshold 50).

Implementation decisions: each file is a job of its own (fresh model and normaliser), as in NAB
where detectors see one file at a time; nothing is tuned per file. Input errors name the file and
line.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from trailspike.core.errors import InputError, SourceLocation
from trailspike.eval.nab_scorer import (
    STANDARD_PROFILES,
    CostProfile,
    FileRows,
    SweepResult,
    optimise_threshold,
    probationary_length,
    row_weights,
    score_at_threshold,
)
from trailspike.models.base import Side
from trailspike.models.factory import new_normalizer, new_series_model

FIXED_THRESHOLD = 0.5
DETECTOR_NAME = "trailspike"
DETECTOR_SIDE: Side = "both"


@dataclass
class NabSeries:
    """One NAB data file: timestamps (naive UTC) and values."""

    name: str
    timestamps: list[datetime]
    values: list[float]


@dataclass
class NabReport:
    """Scores for each profile, optimised and at the fixed threshold, plus per-file results."""

    optimised: dict[str, SweepResult] = field(default_factory=dict)
    fixed: dict[str, SweepResult] = field(default_factory=dict)
    files: list[FileRows] = field(default_factory=list)
    windows: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # rows, inclusive


@dataclass(frozen=True)
class WindowResult:
    """One labelled window at a threshold: its first detection, or its best score if missed."""

    first: int | None  # rows from the window's start to its first detection
    top: float  # the highest score inside the window


@dataclass(frozen=True)
class FileResult:
    """One file at a threshold: what happened in each window, and false alert rows."""

    name: str
    rows: int
    windows: list[WindowResult]
    false_rows: list[int]  # detections outside windows, after the probation


def file_results(report: NabReport, threshold: float = FIXED_THRESHOLD) -> list[FileResult]:
    """Per-file detail at ``threshold``: where each window was found and which rows were false.

    >>> report = NabReport(files=[FileRows("f", [0.0, 0.9, 0.2, 0.7, 0.6], [], 1)])
    >>> report.windows["f"] = [(2, 3)]
    >>> file_results(report)[0]
    FileResult(name='f', rows=5, windows=[WindowResult(first=1, top=0.7)], false_rows=[1, 4])
    """
    out = []
    for f in report.files:
        scores = np.asarray(f.scores, dtype=np.float64)
        spans = report.windows.get(f.name, [])
        hit = scores >= threshold
        windows = []
        for left, right in spans:
            inside = np.flatnonzero(hit[left : right + 1])
            first = int(inside[0]) if inside.size else None
            windows.append(WindowResult(first, float(scores[left : right + 1].max())))
        outside = hit.copy()
        outside[: probationary_length(len(scores))] = False
        for left, right in spans:
            outside[left : right + 1] = False
        out.append(FileResult(f.name, len(scores), windows, np.flatnonzero(outside).tolist()))
    return out


def _parse_time(text: str, where: SourceLocation) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(f"bad timestamp {text!r}", where) from exc


def read_series(path: Path, name: str) -> NabSeries:
    """Read a NAB CSV (``timestamp,value`` header, one row per step)."""
    timestamps: list[datetime] = []
    values: list[float] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise InputError("expected a 'timestamp,value' header", SourceLocation(str(path), 1))
        for line, row in enumerate(reader, start=2):
            where = SourceLocation(str(path), line)
            if len(row) < 2:
                raise InputError("expected two columns", where)
            timestamps.append(_parse_time(row[0], where))
            try:
                values.append(float(row[1]))
            except ValueError as exc:
                raise InputError(f"bad value {row[1]!r}", where) from exc
    if not timestamps:
        raise InputError("no rows", SourceLocation(str(path)))
    return NabSeries(name, timestamps, values)


def read_windows(path: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    """Read NAB's ``combined_windows.json`` shape: file → list of [start, end]."""
    where = SourceLocation(str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read windows: {exc}", where) from exc
    if not isinstance(data, dict):
        raise InputError("expected an object mapping files to windows", where)
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    for name, windows in data.items():
        pairs = []
        for w in windows:
            if not (isinstance(w, list) and len(w) == 2):
                raise InputError(f"{name}: a window must be [start, end]", where)
            pairs.append((_parse_time(w[0], where), _parse_time(w[1], where)))
        out[name] = sorted(pairs)
    return out


def read_profiles(path: Path | None) -> list[CostProfile]:
    """Cost profiles from NAB's ``profiles.json`` (NAB's three standard ones by default)."""
    if path is None:
        return list(STANDARD_PROFILES)
    where = SourceLocation(str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [
            CostProfile(
                name,
                float(p["CostMatrix"]["tpWeight"]),
                float(p["CostMatrix"]["fnWeight"]),
                float(p["CostMatrix"]["fpWeight"]),
            )
            for name, p in data.items()
        ]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"cannot read profiles: {exc}", where) from exc


def series_step(timestamps: Sequence[datetime]) -> float:
    """The series' step in seconds: the median gap between rows (at least one second)."""
    if len(timestamps) < 2:
        return 60.0
    gaps = np.diff([t.timestamp() for t in timestamps])
    return max(1.0, float(np.median(gaps)))


def detect_series(series: NabSeries) -> list[float]:
    """Anomaly scores in [0, 1] for every row: the engine's 0-100 score / 100."""
    span = series_step(series.timestamps)
    model = new_series_model("metric", DETECTOR_SIDE, span)
    normalizer = new_normalizer()
    scores = []
    for ts, value in zip(series.timestamps, series.values, strict=True):
        t = ts.timestamp()
        result = model.score_one(t, value)
        normalizer.observe(result.probability, result.confidence)
        scores.append(normalizer.normalize(result.probability, result.confidence) / 100.0)
        model.learn_one(t, value)
    return scores


def window_rows(
    timestamps: Sequence[datetime], windows: Sequence[tuple[datetime, datetime]]
) -> list[tuple[int, int]]:
    """Each window as an inclusive range of row indices (rows whose time lies inside it)."""
    stamps = np.array([t.timestamp() for t in timestamps])
    out = []
    for start, end in windows:
        left = int(np.searchsorted(stamps, start.timestamp(), side="left"))
        right = int(np.searchsorted(stamps, end.timestamp(), side="right")) - 1
        if right >= left:
            out.append((left, right))
    return out


def write_results(
    out_dir: Path, series: NabSeries, scores: Sequence[float], rows: Sequence[tuple[int, int]]
) -> Path:
    """Write a NAB results file: ``timestamp,value,anomaly_score,label``."""
    rel = Path(series.name)
    target = out_dir / rel.parent / f"{DETECTOR_NAME}_{rel.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    labels = [0] * len(scores)
    for left, right in rows:
        for i in range(left, right + 1):
            labels[i] = 1
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value", "anomaly_score", "label"])
        for ts, v, s, label in zip(series.timestamps, series.values, scores, labels, strict=True):
            writer.writerow([ts.strftime("%Y-%m-%d %H:%M:%S"), repr(v), f"{s:.6f}", label])
    return target


def evaluate(
    data_dir: Path,
    windows_path: Path,
    profiles: Sequence[CostProfile],
    out_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> NabReport:
    """Detect and score every file listed in the windows file."""
    windows = read_windows(windows_path)
    report = NabReport()
    for name in sorted(windows):
        path = data_dir / name
        if not path.is_file():
            raise InputError(
                "data file named in the windows file is missing", SourceLocation(str(path))
            )
        series = read_series(path, name)
        scores = detect_series(series)
        rows = window_rows(series.timestamps, windows[name])
        if out_dir is not None:
            write_results(out_dir, series, scores, rows)
        report.files.append(FileRows(name, scores, row_weights(len(scores), rows), len(rows)))
        report.windows[name] = rows
        if progress is not None:
            progress(name)
    for profile in profiles:
        report.optimised[profile.name] = optimise_threshold(report.files, profile)
        report.fixed[profile.name] = score_at_threshold(report.files, profile, FIXED_THRESHOLD)
    return report


def report_rows(report: NabReport) -> list[dict[str, float | str | int]]:
    """The report as plain rows (profile, scores, thresholds, counts) for tables and JSON."""
    rows: list[dict[str, float | str | int]] = []
    for name, opt in report.optimised.items():
        fixed = report.fixed[name]
        rows.append(
            {
                "profile": name,
                "score_optimised": round(opt.normalized, 2),
                "threshold_optimised": round(opt.threshold, 6)
                if math.isfinite(opt.threshold)
                else 1.0,
                "tp": opt.tp,
                "fp": opt.fp,
                "fn": opt.fn,
                "score_fixed_0.5": round(fixed.normalized, 2),
                "tp_fixed": fixed.tp,
                "fp_fixed": fixed.fp,
                "fn_fixed": fixed.fn,
            }
        )
    return rows
