"""``trailspike eval scenarios``: score a store's alerts against a demo world's labels."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from trailspike.cli.options import db_option, resolve_settings, setting_option

DEFAULT_WORLD = Path("trailspike-demo") / "world"


@click.command("scenarios")
@click.option(
    "--world",
    "world_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_WORLD,
    show_default=True,
    help="Folder of a generated world (holds scenarios.json).",
)
@db_option
@setting_option
@click.option("--json", "as_json", is_flag=True, help="Print the scorecard as JSON.")
def scenarios(
    world_dir: Path,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    as_json: bool,
) -> None:
    """Score the alerts in the store against the world's labelled scenarios.

    For each scenario: the rules that alerted, the delay from its start to the first alert by a
    rule meant for it, and the alert count; for benign time, alerts per week per rule; then the
    goals of issue 5. Misses are results, not errors: the exit status is 0 unless something could
    not be read. Without --db, the store beside the world (WORLD/../demo.duckdb) is used when it
    exists.

    \b
    Example:
      trailspike demo
      trailspike eval scenarios --world trailspike-demo/world --db trailspike-demo/demo.duckdb
    """
    from rich.console import Console

    from trailspike.core.errors import ConfigError
    from trailspike.demo.generate import load_scenarios
    from trailspike.eval.scenarios import load_alert_rows, render_scorecard, score_scenarios
    from trailspike.store.db import open_store

    labels = load_scenarios(world_dir)
    beside = world_dir.parent / "demo.duckdb"
    if db is None and beside.exists():
        db = str(beside)
    settings = resolve_settings(db, setting_pairs)
    db_path = Path(settings["db"])
    if not db_path.exists():
        raise ConfigError(f"store {db_path} not found: run `trailspike demo` or pass --db")
    con = open_store(db_path, read_only=True)
    try:
        card = score_scenarios(labels, load_alert_rows(con), _rule_names())
    finally:
        con.close()
    if as_json:
        click.echo(json.dumps(card.to_dict(), indent=2))
    else:
        # Wide tables even when piped (rich assumes 80 columns without a terminal).
        width = None if sys.stdout.isatty() else 160
        Console(width=width).print(render_scorecard(card))


def _rule_names() -> list[str]:
    from trailspike.rules.loader import load_rules

    return [rule.name for rule in load_rules()]
