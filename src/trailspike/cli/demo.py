"""``trailspike demo``: the whole product on a generated CloudTrail world (what `make demo` runs).

``trailspike demo`` generates the world (or reuses it), ingests it, runs every job, backfills
every rule, prints the alerts and the scenario scorecard, writes the HTML report and says how to
open the web UI. ``trailspike demo generate`` only writes the world.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from trailspike.cli.options import resolve_settings, setting_option

DEFAULT_OUT = Path("trailspike-demo")
FC = TypeVar("FC", bound=Callable[..., object])


def _scale_option(default: float) -> Callable[[FC], FC]:
    return click.option(
        "--scale",
        type=click.FloatRange(0.05, 4),
        default=default,
        show_default=True,
        help="Volume of machine traffic (agents, collectors, app); 1.0 is ~1.1M events in "
        "3 weeks. People and scenarios do not change.",
    )


def _world_options(fn: FC) -> FC:
    fn = click.option(
        "--seed",
        type=int,
        default=7,
        show_default=True,
        help="Random seed: the same seed gives byte-identical files.",
    )(fn)
    fn = click.option(
        "--days", type=int, default=21, show_default=True, help="Length of the world in days."
    )(fn)
    fn = click.option(
        "--start",
        default="2026-11-16",
        show_default=True,
        help="First day of the world (a Monday, UTC).",
    )(fn)
    return fn


DEMO_SCALE = 0.25


@click.group("demo", invoke_without_command=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for the world, the store (demo.duckdb) and report.html.",
)
@_world_options
@_scale_option(DEMO_SCALE)
@setting_option
@click.pass_context
def demo(
    ctx: click.Context,
    out_dir: Path,
    seed: int,
    days: int,
    start: str,
    scale: float,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """Run the whole product on a generated CloudTrail world with labelled attacks.

    Generates three weeks of CloudTrail for three accounts with five labelled scenarios (by
    default with a quarter of the machine traffic, so it runs in minutes; --scale 1 gives the
    full ~1.1M-event world), ingests them, runs all jobs, backfills all rules over the world,
    prints the alerts and the scenario scorecard, and writes a self-contained HTML report.
    Rerunning reuses the world and the store (nothing is done twice).

    \b
    Example:
      trailspike demo
      trailspike demo --out /tmp/demo --seed 42
      trailspike demo generate --out ./world --days 7
    """
    if ctx.invoked_subcommand is not None:
        return
    import sys

    from rich.console import Console

    from trailspike.demo.generate import WorldParams
    from trailspike.demo.runner import run_demo

    # Wide tables even when piped (rich assumes 80 columns without a terminal).
    console = Console(width=None if sys.stdout.isatty() else 160)
    settings = resolve_settings(None, setting_pairs)
    params = WorldParams(seed=seed, start=start, days=days, scale=scale)
    result = run_demo(
        out_dir,
        params,
        settings,
        progress=sys.stderr.isatty(),
        say=lambda line: console.print(line, highlight=False),
    )
    _show_results(console, result, settings)


def _show_results(console: object, result: object, settings: dict[str, object]) -> None:
    from rich.console import Console

    from trailspike.demo.generate import load_scenarios
    from trailspike.demo.runner import DemoResult, write_report
    from trailspike.demo.summary import alert_rows, alert_table, closing_hints
    from trailspike.eval.scenarios import load_alert_rows, render_scorecard, score_scenarios
    from trailspike.rules.loader import load_rules
    from trailspike.store.db import open_store

    assert isinstance(console, Console) and isinstance(result, DemoResult)
    con = open_store(result.db_path)
    try:
        console.print(alert_table(con))
        labels = load_scenarios(result.world_dir)
        card = score_scenarios(labels, load_alert_rows(con), [r.name for r in load_rules()])
        console.print(render_scorecard(card))
        report = write_report(con, result, settings)
        rows = alert_rows(con)
    finally:
        con.close()
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in result.steps.items())
    console.print(f"\nDone: {result.events_stored:,} events, {result.alerts} alerts ({steps}).")
    first = str(rows[-1][3]) if rows else None
    for line in closing_hints(result.db_path, report, first):
        console.print(line, highlight=False)


@demo.command("generate")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT / "world",
    show_default=True,
    help="Folder to write AWSLogs/, scenarios.json and world.json into.",
)
@_world_options
@_scale_option(1.0)
@click.option(
    "--file-minutes",
    type=click.Choice(["5", "10", "15", "30", "60"]),
    default="60",
    show_default=True,
    help="Minutes of events per delivery file.",
)
def generate(
    out_dir: Path, seed: int, days: int, start: str, scale: float, file_minutes: str
) -> None:
    """Write the demo world: CloudTrail S3 delivery files plus labelled scenarios.

    Files follow S3's layout (AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/...json.gz);
    scenarios.json labels the five scenarios (name, start, end, principals, expected rules,
    malicious or benign). The same --seed gives byte-identical files.

    \b
    Example:
      trailspike demo generate --out ./world --seed 7
      trailspike ingest ./world/AWSLogs --db world.duckdb
    """
    import sys

    from rich.progress import Progress

    from trailspike.demo.generate import WorldParams, generate_world

    params = WorldParams(
        seed=seed, start=start, days=days, file_minutes=int(file_minutes), scale=scale
    )
    if sys.stderr.isatty():
        with Progress(transient=True) as bar:
            task = bar.add_task("generate", total=None)
            info = generate_world(
                out_dir,
                params,
                on_total=lambda n: bar.update(task, total=n),
                on_file=lambda n: bar.advance(task, n),
            )
    else:
        info = generate_world(out_dir, params)
    click.echo(
        f"{info['events']:,} events in {info['files']:,} files, "
        f"{info['gz_bytes'] / 1e6:.0f} MB gzipped, {info['start']} .. {info['end']}"
    )
    click.echo(f"Labels: {out_dir / 'scenarios.json'}")
