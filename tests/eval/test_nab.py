"""The NAB runner: file reading, the detector, results files, the CLI and the real corpus."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from shared_data import shared_path
from trailspike.cli import cli
from trailspike.core.errors import InputError
from trailspike.eval.nab import (
    NabSeries,
    detect_series,
    evaluate,
    read_profiles,
    read_series,
    series_step,
    window_rows,
)
from trailspike.eval.nab_scorer import STANDARD_PROFILES

START = datetime(2014, 2, 14, 0, 0)


def _write_corpus(root: Path, n: int = 1200, spike_at: int = 900) -> Path:
    """A tiny NAB-format corpus: one noisy daily series with a labelled spike."""
    rng = np.random.default_rng(7)
    data = root / "data" / "synthetic"
    data.mkdir(parents=True)
    stamps = [START + timedelta(minutes=5 * i) for i in range(n)]
    values = 50 + 10 * np.sin(np.arange(n) * 2 * math.pi / 288) + rng.normal(0, 1, n)
    values[spike_at] += 40
    with (data / "series.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        for t, v in zip(stamps, values, strict=True):
            w.writerow([t.strftime("%Y-%m-%d %H:%M:%S"), f"{v:.3f}"])
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    windows = {
        "synthetic/series.csv": [
            [stamps[spike_at - 30].strftime(fmt), stamps[spike_at + 30].strftime(fmt)]
        ]
    }
    (root / "windows.json").write_text(json.dumps(windows))
    return root


def test_read_series_names_file_and_line_on_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2014-02-14 00:00:00,1.0\n2014-02-14 00:05:00,abc\n")
    with pytest.raises(InputError, match=r"bad.csv, line 3: bad value 'abc'"):
        read_series(path, "bad.csv")
    path.write_text("time,v\n")
    with pytest.raises(InputError, match="header"):
        read_series(path, "bad.csv")


def test_series_step_and_window_rows() -> None:
    stamps = [START + timedelta(minutes=5 * i) for i in range(10)]
    assert series_step(stamps) == 300.0
    rows = window_rows(stamps, [(stamps[3], stamps[5]), (stamps[8], START + timedelta(days=1))])
    assert rows == [(3, 5), (8, 9)]


def test_detector_scores_are_in_unit_interval_and_flag_the_spike(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path)
    series = read_series(root / "data/synthetic/series.csv", "synthetic/series.csv")
    scores = detect_series(series)
    assert len(scores) == len(series.values)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert int(np.argmax(scores[300:])) + 300 == 900
    assert scores[900] >= 0.5


def test_evaluate_writes_nab_results_files(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path)
    out = tmp_path / "out"
    report = evaluate(root / "data", root / "windows.json", list(STANDARD_PROFILES), out)
    results = out / "synthetic" / "trailspike_series.csv"
    rows = list(csv.DictReader(results.open()))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
    assert sum(int(r["label"]) for r in rows) == 61
    assert report.optimised["standard"].tp == 1
    assert report.fixed["standard"].tp == 1


def test_missing_data_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "windows.json").write_text(json.dumps({"nope/missing.csv": []}))
    with pytest.raises(InputError, match="missing"):
        evaluate(tmp_path, tmp_path / "windows.json", list(STANDARD_PROFILES))


def test_cli_prints_table_and_json(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["eval", "nab", str(root / "data"), str(root / "windows.json"), "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["profile"] for r in rows} == {p.name for p in STANDARD_PROFILES}
    table = runner.invoke(cli, ["eval", "nab", str(root / "data"), str(root / "windows.json")])
    assert table.exit_code == 0 and "standard" in table.output
    assert "Example" in runner.invoke(cli, ["eval", "nab", "--help"]).output


def test_cli_files_shows_where_each_window_was_found(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path)
    args = ["eval", "nab", str(root / "data"), str(root / "windows.json"), "--files"]
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert {r["profile"] for r in data["scores"]} == {p.name for p in STANDARD_PROFILES}
    (series,) = data["files"]
    # The window runs from 30 rows before the spike at row 900: found at its 31st row.
    assert series["windows"] == [{"first": 30, "top": series["windows"][0]["top"]}]
    assert series["windows"][0]["top"] >= 0.5 and series["rows"] == 1200
    assert all(r < 870 or r > 930 for r in series["false_rows"])
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0 and "+30" in table.output and "Per file" in table.output


@pytest.mark.slow
@pytest.mark.shared_data
def test_nab_aws_corpus_scores_well_above_random(tmp_path: Path) -> None:
    data = shared_path("nab_aws")
    profiles = read_profiles(data / "profiles.json")
    report = evaluate(data, data / "windows.json", profiles, tmp_path)
    assert len(report.files) == 17
    standard = report.optimised["standard"]
    # NAB's random detector scores 16.4 on this subset; the null detector 0.
    assert standard.normalized > 30.0
    assert report.fixed["standard"].normalized > 16.4
    assert standard.tp >= 15
    assert all(0 <= s <= 1 for f in report.files for s in f.scores)


def test_series_model_contract_for_nab_series() -> None:
    series = NabSeries("x", [START + timedelta(minutes=5 * i) for i in range(50)], [1.0] * 50)
    scores = detect_series(series)
    assert max(scores) == 0.0  # a constant series is never anomalous
