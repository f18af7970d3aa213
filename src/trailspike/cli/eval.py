"""``trailspike eval``: measure detection quality on labelled benchmarks (NAB)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.table import Table


@click.group("eval")
def eval_group() -> None:
    """Measure detection quality on labelled data.

    \b
    Example:
      trailspike eval nab ../shared/data/nab_aws ../shared/data/nab_aws/windows.json
    """


@eval_group.command("nab")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("windows_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--profiles",
    "profiles_json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="NAB profiles.json (default: NAB's standard, reward_low_FP, reward_low_FN).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write NAB results files (timestamp,value,anomaly_score,label) and scores.json here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option(
    "--files",
    "per_file",
    is_flag=True,
    help="Also show each file at the fixed threshold: where each window was first detected "
    "(rows into it) or its best score if missed, and the false alert rows. With --json the "
    'output becomes {"scores": [...], "files": [...]}.',
)
def nab_command(
    data_dir: Path,
    windows_json: Path,
    profiles_json: Path | None,
    out_dir: Path | None,
    as_json: bool,
    per_file: bool,
) -> None:
    """Run the metric detector over NAB CSV files and print NAB scores.

    Every file named in WINDOWS_JSON (paths relative to DATA_DIR) is run through the same
    detector (`mean`, bucket span = the series' step, one configuration for all files). Scores
    follow NAB's rules, with NAB's threshold optimisation and at the fixed threshold 0.5 (the
    alert threshold 50).

    \b
    Example:
      trailspike eval nab ../shared/data/nab_aws ../shared/data/nab_aws/windows.json \\
          --profiles ../shared/data/nab_aws/profiles.json --out nab-results --files
    """
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from trailspike.eval.nab import (
        evaluate,
        file_results,
        read_profiles,
        read_windows,
        report_rows,
    )

    profiles = read_profiles(profiles_json)
    # Full width even when piped (rich assumes 80 columns without a terminal).
    console = Console(width=None if sys.stdout.isatty() else 120)
    if sys.stderr.isatty():
        total = len(read_windows(windows_json))
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("NAB files", total=total)
            report = evaluate(
                data_dir, windows_json, profiles, out_dir, lambda _: progress.advance(task)
            )
    else:
        report = evaluate(data_dir, windows_json, profiles, out_dir)
    rows = report_rows(report)
    if out_dir is not None:
        (out_dir / "scores.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    files = [dataclasses.asdict(f) for f in file_results(report)] if per_file else None
    if as_json:
        click.echo(
            json.dumps(rows if files is None else {"scores": rows, "files": files}, indent=2)
        )
        return
    table = Table(title=f"NAB scores ({len(report.files)} files)")
    for col in ("profile", "optimised", "threshold", "TP/FP/FN", "fixed 0.5", "TP/FP/FN @0.5"):
        table.add_column(col, justify="left" if col == "profile" else "right", no_wrap=True)
    for r in rows:
        table.add_row(
            str(r["profile"]),
            f"{r['score_optimised']:.1f}",
            f"{r['threshold_optimised']:.3f}",
            f"{r['tp']}/{r['fp']}/{r['fn']}",
            f"{r['score_fixed_0.5']:.1f}",
            f"{r['tp_fixed']}/{r['fp_fixed']}/{r['fn_fixed']}",
        )
    console.print(table)
    if files is not None:
        console.print(_files_table(files))


def _files_table(files: list[dict[str, Any]]) -> Table:
    """Each file at the fixed threshold: windows found (rows in, score) or missed, false rows."""
    from rich.table import Table

    table = Table(title="Per file at the fixed threshold 0.5")
    for col in ("file", "rows", "windows: first detection (rows in) or best score", "false rows"):
        table.add_column(col, justify="right" if col in ("rows", "false rows") else "left")
    for f in files:
        found = [
            f"+{w['first']}" if w["first"] is not None else f"missed ({w['top']:.2f})"
            for w in f["windows"]
        ]
        table.add_row(
            Path(f["name"]).stem, str(f["rows"]), ", ".join(found) or "-", str(len(f["false_rows"]))
        )
    return table


eval_group.add_command(importlib.import_module("trailspike.cli.eval_scenarios").scenarios)
