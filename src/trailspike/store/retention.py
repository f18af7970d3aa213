"""Retention: drop stored events and job results older than the configured horizons.

A service that ingests a busy trail for months grows its store without end. Two settings bound
it, both off by default (keep everything):

* ``events_retention`` (e.g. ``180d``): events whose time is older than the newest stored event
  minus this go, with quarantined records set aside as long ago. Never an event a job has not
  processed yet: the cut stops at the earliest ``last_bucket_end`` of the jobs that have run, so a
  job that lags (or was stopped) keeps its input. At least :data:`MIN_EVENTS_RETENTION`, because
  rules and triage read recent events (a rule's alert summary, a command's cadence over up to
  100 days, the error history of 30 days).
* ``results_retention`` (e.g. ``400d``): a job's buckets, records, early records,
  influencers and model bounds older than its newest bucket minus this go (Elastic's
  ``results_retention_days``). At least the ``renormalization_window``, which rescores the
  records inside it.

Horizons count back from the newest data, not from the clock, so a store of last year's trail
that someone is investigating is not emptied by its first prune. Alerts, rule executions,
deliveries, exceptions and the list of files read are kept: they are small, they are the
record of what was raised, and the file list stops old files from being read again.

Deleting is idempotent; the whole prune is one transaction, so a killed prune deletes nothing.
DuckDB reuses the freed blocks after the checkpoint that follows; the file does not shrink.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from trailspike.core.errors import ConfigError
from trailspike.core.timeutil import parse_duration

MIN_EVENTS_RETENTION = timedelta(days=7)
OFF = ("", "0", "off", "false", "no", "none")
RESULT_TABLES = ("buckets", "records", "early_records", "influencers", "model_plot")


@dataclass(frozen=True)
class Retention:
    """How long events and job results are kept (None: for ever)."""

    events: timedelta | None = None
    results: timedelta | None = None

    @property
    def enabled(self) -> bool:
        return self.events is not None or self.results is not None


def _horizon(settings: Mapping[str, Any], name: str) -> timedelta | None:
    text = str(settings.get(name, "off")).strip().lower()
    return None if text in OFF else parse_duration(text)


def retention_from_settings(settings: Mapping[str, Any]) -> Retention:
    """The ``events_retention`` and ``results_retention`` settings, checked.

    >>> retention_from_settings({"events_retention": "off", "results_retention": "90d"}).results
    datetime.timedelta(days=90)
    """
    events = _horizon(settings, "events_retention")
    results = _horizon(settings, "results_retention")
    if events is not None and events < MIN_EVENTS_RETENTION:
        raise ConfigError(
            f"events_retention {settings['events_retention']!r} is shorter than 7d: rules and "
            "triage read the last days' events (use off to keep everything)"
        )
    window = parse_duration(str(settings.get("renormalization_window", "30d")))
    if results is not None and results < window:
        raise ConfigError(
            f"results_retention {settings['results_retention']!r} is shorter than the "
            f"renormalization_window ({settings.get('renormalization_window', '30d')}), whose "
            "records are rescored"
        )
    return Retention(events, results)


@dataclass
class PruneReport:
    """What a prune removed (or, with ``dry_run``, would remove)."""

    dry_run: bool = False
    events_before: datetime | None = None
    held_back_by: str | None = None  # the job whose unprocessed events stopped the cut
    results_before: dict[str, datetime] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

    def summary_line(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        if not self.total:
            return f"{verb} nothing"
        parts = [f"{n:,} {table}" for table, n in self.deleted.items() if n]
        return f"{verb} " + ", ".join(parts)


def _events_cut(
    con: duckdb.DuckDBPyConnection, keep: timedelta, job_ids: Iterable[str]
) -> tuple[datetime | None, str | None]:
    """The time before which events may go, and the job that held the cut back (if one did)."""
    newest = con.execute("SELECT max(ts) FROM events").fetchone()
    if newest is None or newest[0] is None:
        return None, None
    cut: datetime = newest[0] - keep
    ids = sorted(set(job_ids))
    if not ids:
        return cut, None
    frontier = con.execute(
        "SELECT job_id, last_bucket_end FROM job_state "
        "WHERE last_bucket_end IS NOT NULL AND list_contains(?, job_id) "
        "ORDER BY last_bucket_end, job_id LIMIT 1",
        [ids],
    ).fetchone()
    if frontier is not None and frontier[1] < cut:
        return frontier[1], str(frontier[0])
    return cut, None


def _results_cuts(con: duckdb.DuckDBPyConnection, keep: timedelta) -> dict[str, datetime]:
    rows = con.execute(
        "SELECT job_id, max(timestamp) FROM buckets GROUP BY job_id ORDER BY job_id"
    ).fetchall()
    return {str(job): newest - keep for job, newest in rows if newest is not None}


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def prune(
    con: duckdb.DuckDBPyConnection,
    retention: Retention,
    job_ids: Iterable[str] = (),
    *,
    dry_run: bool = False,
) -> PruneReport:
    """Delete what ``retention`` no longer keeps, in one transaction; see the module docstring.

    ``job_ids``: the jobs whose unprocessed events must stay (the configured jobs).
    """
    report = PruneReport(dry_run=dry_run)
    # Statements are fixed text (table names from RESULT_TABLES); every value is bound.
    steps: list[tuple[str, str, list[Any]]] = []
    if retention.events is not None:
        cut, held = _events_cut(con, retention.events, job_ids)
        report.events_before, report.held_back_by = cut, held
        if cut is not None:
            steps.append(("events", "events WHERE ts < ?", [cut]))
        # Quarantined records have no trusted event time: their horizon counts from the newest
        # one set aside.
        newest_q = con.execute("SELECT max(quarantined_at) FROM quarantine").fetchone()
        if newest_q is not None and newest_q[0] is not None:
            q_cut = newest_q[0] - retention.events
            steps.append(("quarantine", "quarantine WHERE quarantined_at < ?", [q_cut]))
    if retention.results is not None:
        report.results_before = _results_cuts(con, retention.results)
        for table in RESULT_TABLES:
            for job, cut in report.results_before.items():
                where = f"{table} WHERE job_id = ? AND timestamp < ?"  # fixed table names
                steps.append((table, where, [job, cut]))
    con.execute("BEGIN TRANSACTION")
    try:
        for table, where, params in steps:
            n = _count(con, f"SELECT count(*) FROM {where}", params)  # noqa: S608
            if n and not dry_run:
                con.execute(f"DELETE FROM {where}", params)  # noqa: S608
            report.deleted[table] = report.deleted.get(table, 0) + n
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("ROLLBACK" if dry_run else "COMMIT")
    if report.total and not dry_run:
        con.execute("CHECKPOINT")  # the freed blocks become reusable
    return report
