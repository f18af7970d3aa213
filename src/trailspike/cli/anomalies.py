"""``trailspike anomalies``: list stored anomaly records, highest score first."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from trailspike.cli.jobs import parse_when
from trailspike.cli.options import db_option, resolve_settings, setting_option
from trailspike.core.errors import ConfigError


def _entity(record: dict[str, Any]) -> str:
    parts = []
    for kind in ("partition", "over", "by"):
        value = record.get(f"{kind}_field_value")
        if value is not None:
            parts.append(f"{record[f'{kind}_field_name']}={value}")
    return ", ".join(parts) or "-"


def _top_influencers(record: dict[str, Any], per_field: int = 1) -> str:
    if not record.get("influencers"):
        return "-"
    items = json.loads(record["influencers"])
    return "; ".join(
        f"{i['influencer_field_name']}={', '.join(i['influencer_field_values'][:per_field])}"
        for i in items
    )


def _json_ready(record: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in record.items():
        if isinstance(value, datetime):
            value = value.isoformat() + "Z"
        elif key in ("influencers", "explanation") and value:
            value = json.loads(value)
        out[key] = value
    out["result_type"] = "record"
    return out


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@click.command()
@click.option("--job", "job_id", default=None, help="Only this job's anomalies.")
@click.option("--min-score", type=float, default=0.0, show_default=True, help="Lowest score.")
@click.option("--since", default=None, help="Bucket start at or after (ISO time or now-24h).")
@click.option("--limit", type=int, default=100, show_default=True, help="Most records to show.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table, or JSON records with Elastic's field names.",
)
@db_option
@setting_option
def anomalies(
    job_id: str | None,
    min_score: float,
    since: str | None,
    limit: int,
    fmt: str,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """Show anomaly records found by `trailspike jobs run`, highest record_score first.

    \b
    Examples:
      trailspike anomalies --min-score 50 --since now-7d
      trailspike anomalies --job high_distinct_count_error_message --format json
    """
    from trailspike.models.normalizer import severity
    from trailspike.store.db import open_store
    from trailspike.store.results import query_records

    settings = resolve_settings(db, setting_pairs)
    path = str(settings["db"])
    if path != ":memory:" and not Path(path).exists():
        raise ConfigError(f"no store at {path} (run `trailspike ingest` and `trailspike jobs run`)")
    con = open_store(path)
    try:
        records = query_records(con, job_id, min_score, parse_when(since), limit=limit)
    finally:
        con.close()
    if fmt == "json":
        click.echo(json.dumps([_json_ready(r) for r in records], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("time (UTC)", "job", "score", "severity", "function", "entity", "actual",
                  "typical", "influencers")  # fmt: skip
    for r in records:
        table.add_row(
            r["timestamp"].strftime("%Y-%m-%d %H:%M"),
            r["job_id"],
            f"{r['record_score']:.0f} ({r['initial_record_score']:.0f})",
            severity(r["record_score"]),
            f"{r['function']}({r['field_name'] or ''})",
            _entity(r),
            _number(r["actual"]),
            _number(r["typical"]),
            _top_influencers(r),
        )
    console = Console()
    console.print(table)
    if not records:
        console.print("no anomalies match (run `trailspike jobs run` first?)")
