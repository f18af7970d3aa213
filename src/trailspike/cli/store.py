"""``trailspike store``: what the store holds, pruning it to the retention settings, compacting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trailspike.cli.options import resolve_settings, store_options, writable_store

# Tables shown by `store info`, in the order of the data flow (fixed names, never user input).
INFO_TABLES = (
    "ingested_files", "events", "quarantine", "buckets", "records", "early_records",
    "influencers", "model_plot", "alerts", "rule_executions",
)  # fmt: skip


@click.group()
def store() -> None:
    """The store: what it holds, pruning it to the retention settings, compacting it.

    \b
    Examples:
      trailspike store info
      trailspike store prune --events 180d --results 400d --dry-run
      trailspike store compact
    """


def _info(con: Any) -> list[tuple[str, int, str]]:
    rows = []
    for table in INFO_TABLES:
        count = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        span = ""
        if table == "events" and count:
            first, last = con.execute("SELECT min(ts), max(ts) FROM events").fetchone()
            span = f"{first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M}"
        rows.append((table, int(count), span))
    return rows


@store.command()
@store_options
def info(db: str | None, setting_pairs: tuple[tuple[str, str], ...], wait: float) -> None:
    """Rows per table, the events' time span, each job's progress and the file's size.

    \b
    Example:
      trailspike store info --db trailspike.duckdb
    """
    from rich.console import Console
    from rich.table import Table

    with writable_store(db, setting_pairs, wait, must_exist=True) as (settings, con):
        rows = _info(con)
        jobs = con.execute(
            "SELECT job_id, last_bucket_end FROM job_state ORDER BY job_id"
        ).fetchall()
        pruned = con.execute(
            "SELECT value FROM service_state WHERE key = 'last_prune_at'"
        ).fetchone()
    console = Console()
    table = Table("table", "rows", "time span (UTC)")
    for name, count, span in rows:
        table.add_row(name, f"{count:,}", span)
    console.print(table)
    for job_id, end in jobs:
        console.print(f"job {job_id}: final up to {end:%Y-%m-%d %H:%M}" if end else job_id)
    console.print(
        f"retention: events {settings['events_retention']}, results "
        f"{settings['results_retention']}"
        + (f"; the service last pruned at {pruned[0][:16]}" if pruned else "")
    )
    path = Path(str(settings["db"]))
    if path.exists():
        console.print(f"{path}: {path.stat().st_size / 2**20:,.1f} MiB")


@store.command()
@click.option("--events", default=None, help="Keep events this long (setting events_retention).")
@click.option("--results", default=None, help="Keep results this long (results_retention).")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@store_options
def prune(
    events: str | None,
    results: str | None,
    dry_run: bool,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Delete events and job results older than the retention settings.

    Horizons count back from the newest event and each job's newest bucket; events a job has
    not processed yet are kept. Alerts, rule executions and the list of files read are kept.
    The service (`trailspike run`) prunes once a day when a retention is set.

    \b
    Examples:
      trailspike store prune --events 180d --dry-run
      trailspike store prune --setting results_retention 400d
    """
    from trailspike.jobs.loader import load_jobs
    from trailspike.store.retention import prune as prune_store
    from trailspike.store.retention import retention_from_settings

    extra = {"events_retention": events, "results_retention": results}
    pairs = setting_pairs + tuple((k, v) for k, v in extra.items() if v is not None)
    with writable_store(db, pairs, wait, must_exist=True) as (settings, con):
        retention = retention_from_settings(settings)
        if not retention.enabled:
            raise click.UsageError(
                "no retention set: pass --events and/or --results (or the settings "
                "events_retention / results_retention)"
            )
        report = prune_store(con, retention, load_jobs().ids(), dry_run=dry_run)
    if report.events_before is not None:
        click.echo(f"events before {report.events_before:%Y-%m-%d %H:%M} UTC")
    if report.held_back_by:
        click.echo(f"  (held back: job {report.held_back_by} has not processed later events)")
    for job, cut in report.results_before.items():
        click.echo(f"{job}: results before {cut:%Y-%m-%d %H:%M} UTC")
    click.echo(report.summary_line())


@store.command()
@store_options
def compact(db: str | None, setting_pairs: tuple[tuple[str, str], ...], wait: float) -> None:
    """Rewrite the store into a fresh file, giving pruned space back to the disk.

    A prune frees blocks that DuckDB reuses for new data but never returns; this copies the
    store into a new file and swaps it in with one rename (a killed compaction leaves the store
    as it was). It needs the `trailspike run` service stopped, and about the store's size free.

    \b
    Example:
      trailspike store prune --events 180d && trailspike store compact
    """
    from trailspike.core.errors import TrailspikeError
    from trailspike.service.access import open_store_waiting
    from trailspike.service.runner import ServiceLock
    from trailspike.store.compact import compact as compact_store

    settings = resolve_settings(db, setting_pairs)
    path = Path(str(settings["db"]))
    if not path.is_file():
        raise click.UsageError(f"no store at {path}")
    lock = ServiceLock(str(path))
    try:
        lock.acquire()
    except TrailspikeError as exc:
        raise click.ClickException(f"{exc.message} (compacting replaces the file)") from None
    try:
        done = compact_store(path, lambda p: open_store_waiting(p, wait=wait))
    finally:
        lock.release()
    click.echo(f"{path}: {done.before / 2**20:,.1f} MiB -> {done.after / 2**20:,.1f} MiB")
