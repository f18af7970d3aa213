"""``trailspike alerts``: list alerts; show, ack, close or reopen one; fetch its source events."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

import click

from trailspike.cli.options import (
    db_option,
    parse_when,
    resolve_settings,
    setting_option,
    wait_option,
)
from trailspike.rules.alerts import CLOSE_REASONS, WORKFLOW_STATUSES

STATUS = click.Choice(list(WORKFLOW_STATUSES))
REASONS = click.Choice(list(CLOSE_REASONS))


def _open(
    db: str | None, setting_pairs: tuple[tuple[str, str], ...], wait: float, read_only: bool
) -> Any:
    from trailspike.service.access import open_store_waiting

    settings = resolve_settings(db, setting_pairs)
    return open_store_waiting(settings["db"], read_only=read_only, wait=wait, must_exist=True)


@click.group("alerts", invoke_without_command=True)
@click.option("--since", "since_text", default=None, help="Anomaly time from (ISO or now-24h).")
@click.option("--until", "until_text", default=None, help="Anomaly time before (ISO or now-…).")
@click.option("--rule", "rule_id", default=None, help="Only this rule id.")
@click.option("--status", type=STATUS, default=None, help="Only this workflow status.")
@click.option("--limit", type=int, default=None, help="At most this many alerts.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "ndjson"]), default="table")
@click.option(
    "--group-by",
    "group_by",
    type=click.Choice(["principal", "rule"]),
    default=None,
    help="One line per principal (ARN or user) or rule: count, rules, top score, time range.",
)
@db_option
@setting_option
@wait_option
@click.pass_context
def alerts(
    ctx: click.Context,
    since_text: str | None,
    until_text: str | None,
    rule_id: str | None,
    status: str | None,
    limit: int | None,
    fmt: str,
    group_by: str | None,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """List alerts, newest anomaly first; subcommands act on one alert.

    \b
    Examples:
      trailspike alerts --since now-24h --status open
      trailspike alerts --since now-24h --group-by principal
      trailspike alerts --rule 78d3d8d9-b476-451d-a9e0-7a5addd70670 --format ndjson
      trailspike alerts ack 3f0c9a1b2c
      trailspike alerts close 3f0c9a1b2c --reason false_positive --add-exception
    """
    if ctx.invoked_subcommand is not None:
        return
    from trailspike.rules.alerts import list_alerts

    con = _open(db, setting_pairs, wait, read_only=True)
    try:
        rows = list_alerts(
            con,
            since=parse_when(since_text) if since_text else None,
            until=parse_when(until_text) if until_text else None,
            rule_id=rule_id,
            status=status,
            limit=limit,
        )
    finally:
        con.close()
    if group_by is not None:
        _groups(rows, group_by, fmt)
    elif fmt == "json":
        click.echo(json.dumps([r.doc for r in rows], indent=2, default=str))
    elif fmt == "ndjson":
        for row in rows:
            click.echo(json.dumps(row.doc, default=str))
    else:
        _table(rows)


def _groups(rows: list[Any], by: str, fmt: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from trailspike.rules.grouping import group_alerts

    groups = group_alerts(rows, by)
    if fmt in ("json", "ndjson"):
        docs = [g.as_dict() for g in groups]
        if fmt == "json":
            click.echo(json.dumps(docs, indent=2, default=str))
        for doc in docs if fmt == "ndjson" else []:
            click.echo(json.dumps(doc, default=str))
        return
    table = Table(by, "alerts", "open", "top score", "anomalies", "rules", "top alert")
    for g in groups:
        rules = ", ".join(f"{name} ×{n}" for name, n in g.rules().items())
        table.add_row(
            escape(g.key),  # log text: never interpret it as rich markup
            str(len(g.alerts)),
            str(g.open_count()),
            f"{g.top.record_score:.0f}",
            f"{g.first:%Y-%m-%d %H:%M} – {g.last:%Y-%m-%d %H:%M}",
            escape(rules),
            f"{g.top.alert_uuid[:12]}: {escape(g.top.reason)}",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    if not groups:
        click.echo("no alerts match")


def _table(rows: list[Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("id", "anomaly time", "status", "score", "rule", "reason")
    for row in rows:
        table.add_row(
            row.alert_uuid[:12],
            f"{row.original_time:%Y-%m-%d %H:%M}",
            row.workflow_status,
            f"{row.record_score:.0f}",
            escape(row.rule_name),
            escape(row.reason),  # log text: never interpret it as rich markup
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    if not rows:
        click.echo("no alerts match")


@alerts.command("show")
@click.argument("alert_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@db_option
@setting_option
@wait_option
def show(
    alert_id: str,
    fmt: str,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Show one alert: reason, top error messages, principals, addresses, actions.

    \b
    Example:
      trailspike alerts show 3f0c9a1b2c --format json
    """
    from trailspike.rules.alerts import get_alert

    con = _open(db, setting_pairs, wait, read_only=True)
    try:
        row = get_alert(con, alert_id)
    finally:
        con.close()
    if fmt == "json":
        click.echo(json.dumps(row.doc, indent=2, default=str))
        return
    details = row.doc.get("trailspike", {})
    click.echo(f"{row.alert_uuid}  [{row.workflow_status}] {row.severity} risk {row.risk_score}")
    click.echo(f"{row.reason}\n")
    sections = [
        ("top error messages", "top_error_messages", ["error_message"]),
        ("top error codes", "top_error_codes", ["error_code"]),
        ("principals", "principals", ["user_identity_arn"]),
        (
            "source addresses",
            "source_ips",
            ["source_ip", "source_geo_city_name", "source_geo_country_iso_code"],
        ),
        ("actions", "actions", ["event_provider", "event_action"]),
    ]
    for title, key, cols in sections:
        entries = details.get(key) or []
        if entries:
            click.echo(f"{title}:")
            for entry in entries:
                label = " ".join(str(entry.get(c)) for c in cols if entry.get(c))
                click.echo(f"  {entry.get('count', 0):>6}  {label}")
    click.echo(f"\nsource events: {details.get('fetch_events_cli', '')}")


@alerts.command("events")
@click.argument("alert_id")
@click.option("--limit", type=int, default=100, show_default=True)
@db_option
@setting_option
@wait_option
def events(
    alert_id: str,
    limit: int,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Print the source events behind an alert's anomaly as ndjson (ECS documents).

    \b
    Example:
      trailspike alerts events 3f0c9a1b2c --limit 20 | jq .aws.cloudtrail.error_message
    """
    from trailspike.rules.alerts import get_alert

    con = _open(db, setting_pairs, wait, read_only=True)
    try:
        alert = get_alert(con, alert_id)
        query = alert.doc.get("trailspike", {}).get("source_events")
        if not query:
            raise click.ClickException("this alert has no source-event query")
        # The stored statement was built by trailspike from whitelisted columns; values are bound.
        sql = str(query["sql"]).replace("SELECT *", "SELECT doc", 1) + " LIMIT ?"
        rows = con.execute(sql, [*query["params"], limit]).fetchall()
        oldest = None if rows else con.execute("SELECT min(ts) FROM events").fetchone()
    finally:
        con.close()
    for (doc,) in rows:
        click.echo(doc)
    if oldest is not None:
        kept, why = oldest[0], ""
        if kept is None:
            why = ": the store holds no events"
        elif kept > alert.original_time:
            why = f": the store keeps events from {kept:%Y-%m-%d %H:%M} UTC on (events_retention)"
        click.echo(f"no stored events match this alert's anomaly{why}", err=True)


def _set_status(
    alert_id: str,
    status: Any,
    reason: str | None,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> Any:
    from trailspike.rules.alerts import set_workflow_status

    con = _open(db, setting_pairs, wait, read_only=False)
    try:
        return set_workflow_status(con, alert_id, status, reason), con
    except BaseException:
        con.close()
        raise


@alerts.command("ack")
@click.argument("alert_id")
@db_option
@setting_option
@wait_option
def ack(
    alert_id: str, db: str | None, setting_pairs: tuple[tuple[str, str], ...], wait: float
) -> None:
    """Acknowledge an alert (someone is on it).

    \b
    Example:
      trailspike alerts ack 3f0c9a1b2c
    """
    row, con = _set_status(alert_id, "acknowledged", None, db, setting_pairs, wait)
    con.close()
    click.echo(f"{row.alert_uuid} acknowledged")


@alerts.command("reopen")
@click.argument("alert_id")
@db_option
@setting_option
@wait_option
def reopen(
    alert_id: str, db: str | None, setting_pairs: tuple[tuple[str, str], ...], wait: float
) -> None:
    """Set an alert back to open.

    \b
    Example:
      trailspike alerts reopen 3f0c9a1b2c
    """
    row, con = _set_status(alert_id, "open", None, db, setting_pairs, wait)
    con.close()
    click.echo(f"{row.alert_uuid} open")


@alerts.command("close")
@click.argument("alert_id")
@click.option("--reason", type=REASONS, default=None, help="Why it is closed.")
@click.option(
    "--add-exception",
    is_flag=True,
    help="With --reason false_positive: store the proposed exception in the rule's list.",
)
@db_option
@setting_option
@wait_option
def close(
    alert_id: str,
    reason: str | None,
    add_exception: bool,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Close an alert; as a false positive, propose the exception that would have kept it quiet.

    \b
    Example:
      trailspike alerts close 3f0c9a1b2c --reason false_positive --add-exception
    """
    from trailspike.rules.alerts import exception_toml, suggest_exception
    from trailspike.rules.exceptions import add_exception_item, describe_entry

    row, con = _set_status(alert_id, "closed", reason, db, setting_pairs, wait)
    try:
        click.echo(f"{row.alert_uuid} closed" + (f" ({reason})" if reason else ""))
        if reason != "false_positive":
            return
        item = suggest_exception(row)
        entries = " AND ".join(describe_entry(e) for e in item.entries)
        if add_exception:
            item_id = add_exception_item(con, row.rule_id, item)
            click.echo(f"added exception {item_id} to rule {row.rule_id}: {entries}")
            return
        click.echo(
            "\nThis exception would have kept the alert quiet. Store it with --add-exception, or\n"
            f"  trailspike rules exceptions add {shlex.quote(row.rule_id)} "
            f"--name {shlex.quote(item.name)} "
            # Values come from logs: quote them so a pasted command cannot run anything else.
            + " ".join(f"--entry {shlex.quote(describe_entry(e))}" for e in item.entries)
            + "\nor paste it into the rule file:\n"
        )
        click.echo(exception_toml(item))
    finally:
        con.close()
