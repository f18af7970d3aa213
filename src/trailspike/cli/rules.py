"""``trailspike rules``: list, show, validate, run and backfill rules.

The ``exceptions`` and ``lists`` subgroups live in :mod:`trailspike.cli.rule_lists`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from trailspike.cli.options import parse_when, resolve_settings, store_options, writable_store
from trailspike.cli.rule_lists import exceptions_group, lists_group
from trailspike.core.errors import ConfigError


def rules_option(fn: Any) -> Any:
    return click.option(
        "--rules",
        "rule_paths",
        multiple=True,
        type=click.Path(exists=True, path_type=Path),
        help="Rule file or folder to load instead of the shipped rules (repeatable).",
    )(fn)


def _load(rule_paths: Sequence[Path]) -> Any:
    from trailspike.rules.loader import load_rules

    return load_rules(list(rule_paths) or None)


@click.group("rules")
def rules() -> None:
    """Detection rules: list, show, validate, run, backfill; exceptions and value lists.

    \b
    Examples:
      trailspike rules list
      trailspike rules backfill --start 2026-01-01 --end 2026-01-22
      trailspike rules exceptions add 78d3d8d9-b476-451d-a9e0-7a5addd70670 \\
          --name "CI role" --entry "aws.cloudtrail.user_identity.arn is arn:aws:iam::1:role/ci"
    """


@rules.command("list")
@rules_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_rules(rule_paths: tuple[Path, ...], fmt: str) -> None:
    """List the rules with their job, threshold and schedule.

    \b
    Example:
      trailspike rules list --format json
    """
    collection = _load(rule_paths)
    rows = [
        {
            "rule_id": r.rule_id,
            "name": r.name,
            "job": ",".join(r.job_ids()),
            "threshold": r.anomaly_threshold,
            "interval": r.interval,
            "from": r.from_,
            "severity": r.severity,
            "risk_score": r.risk_score,
            "enabled": r.enabled,
        }
        for r in collection
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("rule_id", "name", "job", "threshold", "every", "look-back", "severity")
    for row in rows:
        table.add_row(
            str(row["rule_id"]),
            str(row["name"]),
            str(row["job"]),
            str(row["threshold"]),
            str(row["interval"]),
            str(row["from"]),
            f"{row['severity']} ({row['risk_score']})",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def _rule_checks(rule: Any) -> list[str]:
    """Warnings about a rule that do not need a store: job defined, look-back long enough."""
    from trailspike.rules.engine import default_settings, lookback_warning
    from trailspike.rules.jobinfo import load_job_info

    warnings = []
    for job_id in rule.job_ids():
        job = load_job_info(job_id)
        if job is None:
            warnings.append(f"job {job_id} is not defined")
        elif msg := lookback_warning(rule, job, default_settings()):
            warnings.append(msg)
    return warnings


@rules.command("status")
@rules_option
@store_options
def rules_status(
    rule_paths: tuple[Path, ...],
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Per rule: last execution and its window, alerts raised and still open, last warnings.

    \b
    Example:
      trailspike rules status --db trailspike.duckdb
    """
    from trailspike.service.access import open_store_waiting

    collection = _load(rule_paths)
    settings = resolve_settings(db, setting_pairs)
    con = open_store_waiting(settings["db"], read_only=True, wait=wait, must_exist=True)
    try:
        for rule in collection:
            last = con.execute(
                "SELECT executed_at, window_start, window_end, warnings FROM rule_executions "
                "WHERE rule_id = ? ORDER BY executed_at DESC, window_start DESC LIMIT 1",
                [rule.rule_id],
            ).fetchone()
            counts = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE workflow_status = 'open') FROM alerts "
                "WHERE rule_id = ?",
                [rule.rule_id],
            ).fetchone()
            total, still_open = counts if counts else (0, 0)
            when = "never run" if last is None else f"last run {last[0]:%Y-%m-%d %H:%M}"
            click.echo(f"{rule.name} ({rule.rule_id}): {when}; {total} alerts, {still_open} open")
            for warning in json.loads(last[3]) if last and last[3] else []:
                click.secho(f"  warning: {warning}", fg="yellow")
    finally:
        con.close()


@rules.command("show")
@click.argument("rule_id")
@rules_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def show_rule(rule_id: str, rule_paths: tuple[Path, ...], fmt: str) -> None:
    """Show one rule: settings, MITRE mapping, checks and its investigation guide.

    \b
    Example:
      trailspike rules show 78d3d8d9-b476-451d-a9e0-7a5addd70670
    """
    loaded = _load(rule_paths).loaded(rule_id)
    rule = loaded.rule
    if fmt == "json":
        click.echo(json.dumps(rule.model_dump(by_alias=True), indent=2, default=str))
        return
    click.echo(f"{rule.name}  ({rule.rule_id})\n  file: {loaded.path}")
    click.echo(f"  job {', '.join(rule.job_ids())}: record_score >= {rule.anomaly_threshold}")
    click.echo(
        f"  every {rule.interval} over [{rule.from_}, {rule.to}], at most {rule.max_signals} "
        f"alerts per run; severity {rule.severity}, risk {rule.risk_score}"
    )
    for threat in rule.threat:
        techniques = ", ".join(t.id for t in threat.technique)
        click.echo(f"  MITRE {threat.tactic.id} {threat.tactic.name}  {techniques}".rstrip())
    if rule.alert_suppression:
        click.echo(f"  suppression: {rule.alert_suppression.model_dump()}")
    for warning in _rule_checks(rule):
        click.secho(f"  warning: {warning}", fg="yellow")
    click.echo(f"\n{rule.description.strip()}\n\n{(rule.note or '').strip()}")


@rules.command("schema")
def rule_schema() -> None:
    """Print the JSON Schema of rule files (for editors and CI of your own rules).

    \b
    Example:
      trailspike rules schema > rule.schema.json
    """
    from trailspike.rules.schema import RuleFile

    click.echo(json.dumps(RuleFile.model_json_schema(by_alias=True), indent=2))


@rules.command("validate")
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path))
def validate_rules(files: tuple[Path, ...]) -> None:
    """Validate rule files: schema, job exists, look-back, and their inline [[tests]].

    With no FILES, validates the shipped rules.

    \b
    Example:
      trailspike rules validate my_rules/ml_cloudtrail_custom.toml
    """
    from trailspike.rules.inline_tests import run_inline_tests

    collection = _load(files)
    failed = False
    for item in collection.items:
        problems = _rule_checks(item.rule)
        results = run_inline_tests(item)
        bad = [r for r in results if not r.passed]
        failed = failed or bool(bad) or any("not defined" in p for p in problems)
        status = "FAIL" if bad else "ok"
        click.echo(f"{status:4} {item.path.name}: {item.rule.name} ({len(results)} tests)")
        for r in bad:
            click.echo(f"     test {r.name!r}: expected {r.expected} alerts, got {r.actual}")
        for problem in problems:
            click.secho(f"     warning: {problem}", fg="yellow")
    if failed:
        raise click.exceptions.Exit(1)


def _print_results(results: Sequence[Any], verbose: bool, skipped: int = 0) -> None:
    created = sum(len(r.alerts_created) for r in results)
    warnings: dict[str, int] = {}
    for result in results:
        if verbose or result.alerts_created:
            click.echo(
                f"{result.executed_at:%Y-%m-%d %H:%M} {result.rule_id[:8]} window "
                f"[{result.window_start:%H:%M}, {result.window_end:%H:%M}]: "
                f"{len(result.alerts_created)} new alerts, {result.duplicates} already alerted, "
                f"{result.excepted} excepted, {result.suppressed} suppressed"
            )
        for warning in result.warnings:
            warnings[warning] = warnings.get(warning, 0) + 1
    for warning, count in warnings.items():
        suffix = f" (x{count})" if count > 1 else ""
        click.secho(f"warning: {warning}{suffix}", fg="yellow", err=True)
    skipped_text = f" ({skipped:,} with no anomaly in their window skipped)" if skipped else ""
    click.echo(f"{len(results):,} executions{skipped_text}, {created} new alerts")


@rules.command("run")
@click.argument("rule_ids", nargs=-1)
@click.option("--at", "at_text", default="now", help="Execution time (ISO or now-…).")
@rules_option
@store_options
def run_rules(
    rule_ids: tuple[str, ...],
    at_text: str,
    rule_paths: tuple[Path, ...],
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Execute rules once as of --at (default now): one window each.

    \b
    Example:
      trailspike rules run 78d3d8d9-b476-451d-a9e0-7a5addd70670 --at 2026-01-20T10:30
    """
    from trailspike.rules.engine import execute_rule

    collection = _load(rule_paths)
    chosen = [collection.get(i) for i in rule_ids] if rule_ids else list(collection)
    at = parse_when(at_text)
    with writable_store(db, setting_pairs, wait) as (settings, con):
        results = [execute_rule(con, rule, at, settings) for rule in chosen]
    _print_results(results, verbose=True)


@rules.command("backfill")
@click.option(
    "--start",
    "start_text",
    default=None,
    help="First execution time (ISO or now-…; default: the jobs' first result).",
)
@click.option(
    "--end",
    "end_text",
    default=None,
    help="Last execution time (default: now with --start, else the end of the jobs' data).",
)
@click.option("--rule", "rule_ids", multiple=True, help="Only this rule (repeatable).")
@click.option("-v", "--verbose", is_flag=True, help="Print every execution.")
@rules_option
@store_options
def backfill_rules(
    start_text: str | None,
    end_text: str | None,
    rule_ids: tuple[str, ...],
    verbose: bool,
    rule_paths: tuple[Path, ...],
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Replay history as if the rules had run every interval from --start to --end.

    Only the executions whose window holds an anomaly record run (and the range's first and
    last): the others could raise nothing. Alerts already raised are not raised again, so
    backfilling twice is harmless. Without
    --start and --end it replays what the jobs have analysed: the way to alert on logs from
    the past after `trailspike ingest` and `trailspike jobs run`.

    \b
    Examples:
      trailspike rules backfill
      trailspike rules backfill --start 2026-01-01 --end 2026-01-22
    """
    from trailspike.rules.engine import backfill, execution_times

    collection = _load(rule_paths)
    chosen = [collection.get(i) for i in rule_ids] if rule_ids else list(collection)
    with writable_store(db, setting_pairs, wait) as (settings, con):
        start, end = _replay_range(con, chosen, start_text, end_text, settings)
        results = _backfill_with_progress(backfill, con, chosen, start, end, settings)
    grid = sum(len(execution_times(r.interval_td(), start, end)) for r in chosen if r.enabled)
    _print_results(results, verbose, skipped=grid - len(results))


def _replay_range(
    con: Any, chosen: list[Any], start_text: str | None, end_text: str | None, settings: Any
) -> tuple[datetime, datetime]:
    """The backfill's range: as given (to now), else the jobs' first result to their data's end.

    The default end is the last rule run that can still see the analysed data (its end plus
    the query delay and one interval), but never after now: replaying months of empty
    executions after an old import would only take time.
    """
    from trailspike.core.timeutil import parse_duration, utcnow
    from trailspike.rules.engine import analysed_range

    if start_text is not None:
        start, end = parse_when(start_text), parse_when(end_text or "now")
    else:
        analysed = analysed_range(con, chosen)
        if analysed is None:
            raise ConfigError(
                "the rules' jobs have no results to replay: run `trailspike jobs run` first, "
                "or give --start and --end"
            )
        slack = parse_duration(str(settings["query_delay"])) + max(
            (rule.interval_td() for rule in chosen), default=timedelta(minutes=15)
        )
        start = analysed[0]
        end = parse_when(end_text) if end_text is not None else min(utcnow(), analysed[1] + slack)
    if end < start:
        raise ConfigError("--end is before --start")
    if start_text is None:
        click.echo(f"replaying rule runs from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
    return start, end


def _backfill_with_progress(
    backfill: Any, con: Any, chosen: list[Any], start: datetime, end: datetime, settings: Any
) -> list[Any]:
    import sys

    if not sys.stderr.isatty():
        return list(backfill(con, chosen, start, end, settings))
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("backfilling rules", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return list(backfill(con, chosen, start, end, settings, progress=advance))


rules.add_command(exceptions_group)
rules.add_command(lists_group)
