"""``trailspike jobs``: list, show, validate, run and reset anomaly-detection jobs.

Thin click commands over :mod:`trailspike.jobs.loader` and :mod:`trailspike.jobs.runner`.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from trailspike.cli.options import db_option, resolve_settings, setting_option
from trailspike.core.errors import ConfigError
from trailspike.core.timeutil import parse_relative, parse_time, utcnow

if TYPE_CHECKING:
    import duckdb

    from trailspike.features.source import FeatureFn
    from trailspike.jobs.loader import JobCollection


def parse_when(text: str | None, now: datetime | None = None) -> datetime | None:
    """``2026-01-01``, ``2026-01-01T10:00:00Z`` or ``now-2d`` as naive UTC (None stays None)."""
    if text is None:
        return None
    if text.strip().startswith("now"):
        return parse_relative(text, now or utcnow())
    return parse_time(text)


def _collection(job_files: tuple[str, ...]) -> JobCollection:
    """The shipped jobs, plus (overriding by id) those in ``job_files``."""
    from trailspike.jobs.loader import JobCollection, load_jobs

    shipped = load_jobs()
    if not job_files:
        return shipped
    extra = load_jobs([Path(p) for p in job_files])
    jobs = {job.job_id: job for job in shipped}
    sources = dict(shipped.sources)
    for job in extra:
        jobs[job.job_id] = job  # a user's file overrides a shipped job of the same id
        sources[job.job_id] = extra.sources[job.job_id]
    return JobCollection(list(jobs.values()), sources)


job_files_option = click.option(
    "--job-file",
    "job_files",
    multiple=True,
    metavar="PATH",
    help="Extra job definition file or folder (repeatable); same ids override shipped jobs.",
)


@click.group()
def jobs() -> None:
    """Anomaly-detection jobs: the shipped CloudTrail jobs and your own.

    \b
    Examples:
      trailspike jobs list
      trailspike jobs show high_distinct_count_error_message
      trailspike jobs run --end 2026-01-22
    """


@jobs.command("list")
@db_option
@job_files_option
@setting_option
def list_jobs(
    db: str | None, job_files: tuple[str, ...], setting_pairs: tuple[tuple[str, str], ...]
) -> None:
    """List jobs with their detector and, when the store exists, how far each has run.

    \b
    Example:
      trailspike jobs list --db trailspike.duckdb
    """
    from rich.console import Console
    from rich.table import Table

    collection = _collection(job_files)
    settings = resolve_settings(db, setting_pairs)
    progress = _progress_by_job(settings["db"])
    table = Table("job_id", "span", "detector", "processed until", "records")
    for job in collection:
        det = "; ".join(d.signature() for d in job.analysis_config.detectors)
        until, records = progress.get(job.job_id, (None, 0))
        table.add_row(
            job.job_id, job.analysis_config.bucket_span, det, str(until or "-"), str(records)
        )
    Console().print(table)


def _progress_by_job(path: str) -> dict[str, tuple[datetime | None, int]]:
    if path != ":memory:" and not Path(path).exists():
        return {}
    from trailspike.store.db import open_store

    con = open_store(path)
    try:
        rows = con.execute(
            "SELECT s.job_id, s.last_bucket_end, "
            "(SELECT count(*) FROM records r WHERE r.job_id = s.job_id) FROM job_state s"
        ).fetchall()
    finally:
        con.close()
    return {job_id: (until, count) for job_id, until, count in rows}


@jobs.command("show")
@click.argument("job_id")
@job_files_option
def show(job_id: str, job_files: tuple[str, ...]) -> None:
    """Print a job's definition as JSON (Elastic's shape, with its datafeed).

    \b
    Example:
      trailspike jobs show rare_method_for_a_username
    """
    job = _collection(job_files).get(job_id)
    click.echo(json.dumps(job.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2))


@jobs.command("validate")
@click.argument("paths", nargs=-1, required=True, metavar="FILE...")
def validate(paths: tuple[str, ...]) -> None:
    """Check job files (a job pasted from Kibana works); errors name the file and key.

    \b
    Example:
      trailspike jobs validate my_jobs/unusual_s3_deletes.json
    """
    from trailspike.jobs.loader import load_jobs

    collection = load_jobs([Path(p) for p in paths])
    for job in collection:
        click.echo(f"ok: {job.job_id} ({collection.sources[job.job_id]})")


@jobs.command("run")
@click.argument("job_ids", nargs=-1, metavar="[JOB_ID...]")
@click.option("--start", default=None, help="First bucket to process (ISO time or now-14d).")
@click.option("--end", default=None, help="Process up to this time (ISO or now-1h), for replays.")
@db_option
@job_files_option
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a TTY).")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where the bucket aggregation runs: DuckDB, or Spark (pip install trailspike[spark]).",
)
@click.option(
    "--events-parquet",
    type=click.Path(path_type=Path),
    default=None,
    help="With --engine spark: events already in Parquet (default: export the store's).",
)
@setting_option
def run(
    job_ids: tuple[str, ...],
    start: str | None,
    end: str | None,
    db: str | None,
    job_files: tuple[str, ...],
    progress: bool | None,
    engine: str,
    events_parquet: Path | None,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """Run jobs over the stored events (all jobs if none named) and store their results.

    Only final buckets are processed: a bucket is final when its end plus the settings
    `cloudtrail_delivery_delay` and `query_delay` has passed and later events have been
    ingested. A job resumes where its last run
    stopped, so running this every few minutes processes each bucket exactly once. A run
    over history commits in chunks (one day, growing to at most the setting
    `history_commit_max` while each takes at most `history_commit_seconds`): a killed run
    redoes only the open chunk of each job it was running. Jobs run `job_threads` (default
    2) at a time, the costliest first, with the same results as one after another.

    With --engine spark the per-bucket aggregation runs on Spark (local mode, one query per
    job) over the events in Parquet; models, influencers and results stay here.

    \b
    Examples:
      trailspike jobs run
      trailspike jobs run high_distinct_count_error_message --start 2026-01-01 --end 2026-01-22
      trailspike jobs run --engine spark
    """
    from trailspike.jobs.runner import run_jobs
    from trailspike.store.db import open_store

    settings = resolve_settings(db, setting_pairs)
    collection = _collection(job_files)
    show_bar = sys.stderr.isatty() if progress is None else progress
    con = open_store(settings["db"])
    try:
        with _feature_engine(con, engine, events_parquet) as features:
            summaries = run_jobs(
                con,
                list(job_ids) or None,
                start=parse_when(start),
                end=parse_when(end),
                settings=settings,
                progress=show_bar,
                jobs=collection,
                features=features,
            )
    finally:
        con.close()
    for s in summaries:
        if s.status == "error":
            click.secho(f"{s.job_id}: error: {s.error}", fg="red", err=True)
            continue
        if s.status != "ran":
            click.echo(f"{s.job_id}: {s.status}" + (f" (until {s.end})" if s.end else ""))
            continue
        click.echo(
            f"{s.job_id}: {s.buckets} buckets {s.start} → {s.end}, {s.events} events, "
            f"{s.records} records (max score {s.max_record_score:.1f}), "
            f"{s.events_per_second:,.0f} events/s, models {s.models}, "
            f"memory {s.memory_bytes / 2**20:.1f} of {s.memory_limit_bytes / 2**20:.0f} MiB"
            + (f" [{s.memory_status}, {s.pruned} pruned]" if s.pruned else "")
        )
    if any(s.status == "error" for s in summaries):
        sys.exit(2)


@contextmanager
def _feature_engine(
    con: duckdb.DuckDBPyConnection, engine: str, parquet: Path | None
) -> Iterator[FeatureFn]:
    """The feature rows' source for ``engine``; a Spark session lives for the run only."""
    from trailspike.features.bucket_duckdb import compute_features

    if engine == "duckdb":
        yield compute_features
        return
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigError("--engine spark needs pyspark: pip install 'trailspike[spark]'")
    from trailspike.features.source import spark_features

    with tempfile.TemporaryDirectory(prefix="trailspike-spark-") as tmp:
        source = spark_features(con, Path(tmp), parquet)
        try:
            yield source
        finally:
            source.spark.stop()


@jobs.command("reset")
@click.argument("job_ids", nargs=-1, metavar="[JOB_ID...]")
@click.option(
    "--changed",
    is_flag=True,
    help="Also every job whose definition changed since its models were built (after an "
    "upgrade of trailspike, or an edited job file).",
)
@job_files_option
@db_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@setting_option
def reset(
    job_ids: tuple[str, ...],
    changed: bool,
    job_files: tuple[str, ...],
    db: str | None,
    yes: bool,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """Delete a job's results and models, so the next run rebuilds it from the first event.

    \b
    Examples:
      trailspike jobs reset rare_error_code --yes
      trailspike jobs reset --changed --yes
    """
    from trailspike.jobs.runner import changed_jobs
    from trailspike.store.db import open_store
    from trailspike.store.results import delete_job_results

    if not job_ids and not changed:
        raise click.UsageError("give the JOB_IDs to reset, or --changed")
    settings = resolve_settings(db, setting_pairs)
    con = open_store(settings["db"])
    try:
        ids = list(job_ids)
        if changed:
            ids += [i for i in changed_jobs(con, list(_collection(job_files))) if i not in ids]
        if not ids:
            click.echo("no job changed since its models were built")
            return
        if not yes:
            click.confirm(f"Delete all results and models of {', '.join(ids)}?", abort=True)
        for job_id in ids:
            delete_job_results(con, job_id)
            click.echo(f"reset: {job_id}")
    finally:
        con.close()
