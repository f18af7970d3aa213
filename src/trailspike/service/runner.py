"""``trailspike run``: the long-running service that ingests, detects, alerts and delivers.

Every ``service_interval`` one cycle: ingest new files from ``sources`` (folders, S3 prefixes),
run the jobs over new final buckets, execute the rules that are due (every missed execution since
the last one is caught up), and send undelivered alerts to the outputs. SIGTERM or SIGINT stop the
service after the step in progress; a kill -9 loses nothing, because each step's progress is in
the store (ingested files, job checkpoints, rule executions with their alerts in one transaction,
deliveries per alert and output) and the next start resumes from there.

Implementation decisions: DuckDB lets one process write a database file. The service opens the
store for each cycle and closes it between cycles, so ``trailspike alerts ack`` or a read-only
look at the store works while the service sleeps; commands that meet the store during a cycle get
:class:`StoreBusyError` (the CLI waits a few seconds first). A second service on the same store is
refused by an exclusive lock on ``<db>.service.lock``. A failing step (an S3 outage, a broken
output) is logged and the other steps still run. Deliveries cover alerts written since the
service first started, so starting a service does not flood a channel with a backfilled history.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any

import duckdb

from trailspike.core.errors import StoreBusyError, TrailspikeError
from trailspike.core.timeutil import parse_duration, utcnow
from trailspike.outputs.base import Output
from trailspike.outputs.delivery import deliver_pending
from trailspike.outputs.registry import create_outputs
from trailspike.rules.engine import ExecutionResult, run_due_rules
from trailspike.rules.loader import RuleCollection, load_rules
from trailspike.store.db import open_store
from trailspike.store.retention import prune, retention_from_settings

log = logging.getLogger("trailspike.service")

STORE_WAIT_SECONDS = 60.0
PRUNE_EVERY = timedelta(days=1)
FULL_LISTING_EVERY = timedelta(days=1)
RECENT_FOLDERS = timedelta(days=2)


@dataclass
class CycleReport:
    """What one cycle did."""

    started_at: datetime
    ingest: str = ""
    jobs: str = ""
    executions: list[ExecutionResult] = field(default_factory=list)
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    pruned: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def alerts_created(self) -> int:
        return sum(len(r.alerts_created) for r in self.executions)

    def summary_line(self) -> str:
        warnings = sum(len(r.warnings) for r in self.executions)
        parts = [
            f"cycle {self.started_at:%Y-%m-%d %H:%M:%S}",
            f"ingest: {self.ingest or '-'}",
            f"jobs: {self.jobs or '-'}",
            f"{len(self.executions)} rule executions, {self.alerts_created} new alerts"
            + (f", {warnings} warnings" if warnings else ""),
            f"delivered {sum(self.delivered.values())}"
            + (f", {sum(self.failed.values())} failed (retried next cycle)" if self.failed else ""),
        ]
        if self.pruned:
            parts.append(f"retention: {self.pruned}")
        if self.errors:
            parts.append(f"{len(self.errors)} errors")
        return "; ".join(parts)


class ServiceLock:
    """An exclusive lock file beside the store: one service per store."""

    def __init__(self, db_path: str) -> None:
        self.path = Path(f"{db_path}.service.lock")
        self.handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise TrailspikeError(
                f"another `trailspike run` (pid {owner}) already serves this store; stop it "
                "first, or give this one another --db"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def split_sources(text: str) -> list[str]:
    """The ``sources`` setting as a list.

    >>> split_sources(" ./logs, s3://bucket/AWSLogs/ ,")
    ['./logs', 's3://bucket/AWSLogs/']
    """
    return [s.strip() for s in text.split(",") if s.strip()]


def _set_state(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO service_state VALUES (?, ?, ?)", [key, value, utcnow()])


def _get_state(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM service_state WHERE key = ?", [key]).fetchone()
    return str(row[0]) if row else None


class Service:
    """The service loop; :meth:`run_cycle` is one pass, :meth:`run` loops until stopped."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        rules: RuleCollection | None = None,
        outputs: Sequence[Output] | None = None,
        clock: Callable[[], datetime] = utcnow,
        store_wait: float = STORE_WAIT_SECONDS,
    ) -> None:
        self.settings = settings
        self.db_path = str(settings["db"])
        self.rules = rules if rules is not None else load_rules()
        self.outputs = list(outputs) if outputs is not None else create_outputs(settings)
        self.clock = clock
        self.store_wait = store_wait
        self.interval = parse_duration(str(settings["service_interval"])).total_seconds()
        self.retention = retention_from_settings(settings)  # a bad horizon fails at start
        self.stop_event = threading.Event()
        self.logged_warnings: dict[str, set[str]] = {}  # rule id -> warnings logged last

    # --- one cycle ------------------------------------------------------------------------

    def _open_store(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.store_wait
        while True:
            try:
                return open_store(self.db_path)
            except StoreBusyError:
                if time.monotonic() >= deadline or self.stop_event.is_set():
                    raise
                log.info("store %s is busy (another writer); waiting", self.db_path)
                self.stop_event.wait(1.0)

    def run_cycle(self) -> CycleReport:
        """Ingest, run jobs, execute due rules and deliver, each step on its own."""
        report = CycleReport(self.clock())
        con = self._open_store()
        try:
            if _get_state(con, "first_started_at") is None:
                # Wall-clock time, comparable with alerts.inserted_at (delivery cut-off).
                _set_state(con, "first_started_at", utcnow().isoformat())
            _set_state(con, "last_cycle_started_at", report.started_at.isoformat())
            for step in (self._ingest, self._jobs, self._rules, self._deliver, self._prune):
                if self.stop_event.is_set() and step is not self._deliver:
                    continue
                try:
                    step(con, report)
                except Exception as exc:  # one failing step must not stop the others
                    log.exception("step %s failed", step.__name__)
                    report.errors.append(f"{step.__name__.strip('_')}: {exc}")
            cycles = int(_get_state(con, "cycles") or 0) + 1
            _set_state(con, "cycles", str(cycles))
            _set_state(con, "last_cycle_finished_at", self.clock().isoformat())
            _set_state(con, "last_cycle_errors", json.dumps(report.errors))
            con.execute("CHECKPOINT")
        finally:
            con.close()
        return report

    def _ingest(self, con: duckdb.DuckDBPyConnection, report: CycleReport) -> None:
        sources = split_sources(str(self.settings.get("sources", "")))
        if not sources:
            report.ingest = "no sources configured"
            return
        from trailspike.ingest.pipeline import ingest

        # Between full scans only dated folders from RECENT_FOLDERS back are listed: listing a
        # year of a trail every cycle is thousands of S3 requests for files read long ago. The
        # daily full scan still finds a file delivered into an older folder.
        last_full = _get_state(con, "last_full_listing_at")
        full = last_full is None or (
            report.started_at - datetime.fromisoformat(last_full) >= FULL_LISTING_EVERY
        )
        since = None if full else (report.started_at - RECENT_FOLDERS).date()
        summary = ingest(con, sources, self.settings, since=since)
        if full:
            _set_state(con, "last_full_listing_at", report.started_at.isoformat())
        report.ingest = summary.summary_line() + ("" if full else f" (folders from {since})")
        # Data out of time (delivered after the jobs passed it, or dated in the future) stays on
        # the web overview until newer such data replaces it: one cycle's warnings would be
        # gone five minutes later.
        for note in summary.out_of_time:
            log.warning("ingest: %s", note)
        if summary.out_of_time:
            seen = {"at": report.started_at.isoformat(), "notes": summary.out_of_time}
            _set_state(con, "last_out_of_time", json.dumps(seen))

    def _jobs(self, con: duckdb.DuckDBPyConnection, report: CycleReport) -> None:
        from trailspike.jobs.runner import run_jobs

        summaries = run_jobs(con, now=report.started_at, settings=self.settings)
        ran = [s for s in summaries if s.status == "ran"]
        report.jobs = f"{len(ran)} of {len(summaries)} jobs ran, " + (
            f"{sum(s.buckets for s in ran)} buckets, {sum(s.records for s in ran)} records"
        )

    def _rules(self, con: duckdb.DuckDBPyConnection, report: CycleReport) -> None:
        report.executions = run_due_rules(con, self.rules, report.started_at, self.settings)
        for result in report.executions:
            # A standing condition (a job without input) would repeat every 15 minutes: log
            # a warning when it appears, again only after it went away; every execution keeps
            # its warnings in rule_executions (`trailspike rules status`).
            logged = self.logged_warnings.get(result.rule_id, set())
            for warning in result.warnings:
                level = logging.DEBUG if warning in logged else logging.WARNING
                log.log(level, "rule %s at %s: %s", result.rule_id, result.executed_at, warning)
            self.logged_warnings[result.rule_id] = set(result.warnings)

    def _deliver(self, con: duckdb.DuckDBPyConnection, report: CycleReport) -> None:
        since_text = _get_state(con, "first_started_at")
        since = datetime.fromisoformat(since_text) if since_text else None
        delivery = deliver_pending(con, self.outputs, since)
        report.delivered, report.failed = delivery.delivered, delivery.failed
        for error in delivery.errors:
            log.warning("delivery: %s", error)

    def _prune(self, con: duckdb.DuckDBPyConnection, report: CycleReport) -> None:
        """Once a day (of the service's clock), delete what the retention settings drop."""
        if not self.retention.enabled:
            return
        last = _get_state(con, "last_prune_at")
        if last is not None and report.started_at - datetime.fromisoformat(last) < PRUNE_EVERY:
            return
        from trailspike.jobs.loader import load_jobs

        pruned = prune(con, self.retention, load_jobs().ids())
        _set_state(con, "last_prune_at", report.started_at.isoformat())
        report.pruned = pruned.summary_line()
        _set_state(con, "last_prune", report.pruned)
        log.info("retention: %s", report.pruned)

    # --- the loop -------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current step", signal.Signals(signum).name)
        self.stop_event.set()

    def run(self, once: bool = False, on_cycle: Callable[[CycleReport], None] | None = None) -> int:
        """Loop until SIGTERM/SIGINT (or one cycle with ``once``); return the cycles run."""
        lock = ServiceLock(self.db_path)
        lock.acquire()
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        cycles = 0
        try:
            while not self.stop_event.is_set():
                started = time.monotonic()
                try:
                    report = self.run_cycle()
                except StoreBusyError as exc:
                    if once:
                        raise
                    # Another writer (e.g. a long `rules backfill`) holds the store: skip a turn.
                    log.error("cycle skipped: %s", exc.message)
                else:
                    cycles += 1
                    if on_cycle is not None:
                        on_cycle(report)
                if once:
                    break
                self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for output in self.outputs:
                output.close()
            lock.release()
        return cycles
