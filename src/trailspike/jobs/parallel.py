"""Jobs of one run processed at once, each in its own thread, cursor and transactions.

A job's work is half Python (models, records), which holds the GIL, and half DuckDB, numpy
and Arrow, which release it; one job at a time leaves the second core mostly idle. Jobs are
independent (each reads events and writes its own rows and state), so two run side by side
give the same rows and states, only interleaved in the tables' physical order.

Implementation decisions:

- One DuckDB cursor per thread (a connection of its own to the same database): its own
  transactions, registered views and the results' appending check. The first thread uses the
  caller's connection itself, so a wrapped connection still sees that lane's statements.
- The costliest job first (longest-processing-time scheduling): the benchmark's user job is
  over half the module's CPU, and started last it ran alone at the end, so two threads gained
  nothing. The cost is estimated by the job's distinct series among the first 50,000 events
  it selects (10-20 ms on 2M events), which orders the shipped jobs user, city, country, error
  code, spike. It only orders: results do not depend on which job runs when.
- What a killed run loses is each thread's open chunk: every job still commits its own chunks.
- A failure (or Ctrl-C in the caller's thread) stops the others at their next chunk: the
  chunk they are in commits, they start no other, and the first error is raised (a
  ``TrailspikeError`` is still reported per job by the caller). A job stopped that way resumes
  at its next run like any interrupted one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import duckdb

from trailspike.features.contract import feature_request
from trailspike.features.query import compile_where, field_sql
from trailspike.jobs.schema import JobConfig

T = TypeVar("T")
Stopped = Callable[[], bool]  # whether a job should stop before its next chunk


class RunStopped(Exception):
    """Raised in a job's thread when another thread failed: the job stopped between chunks."""


SAMPLE_EVENTS = 50_000  # events read for the cost estimate (10-20 ms on the 2M store)


def usable_threads(setting: int, cpus: int | None = None) -> int:
    """Job threads for a run: the ``job_threads`` setting, at most one per CPU this process may
    use (a second thread on one CPU only adds the GIL's hand-overs: ~9 % more CPU measured with
    the other core busy, no shorter run).

    >>> usable_threads(2, cpus=1), usable_threads(2, cpus=8), usable_threads(0, cpus=4)
    (1, 2, 1)
    """
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(int(setting), cpus or 1))


def estimated_series(con: duckdb.DuckDBPyConnection, job: JobConfig) -> int:
    """The job's distinct series (partition, by and over values per detector) among the first
    :data:`SAMPLE_EVENTS` events its datafeed selects: a measure of its work for ordering.

    >>> from trailspike.jobs.loader import load_jobs
    >>> from trailspike.store.db import open_store
    >>> con = open_store(":memory:")
    >>> estimated_series(con, load_jobs().get("rare_method_for_a_username"))
    0
    """
    request = feature_request(job)
    where, where_params = compile_where(request.where)
    total = 0
    for detector in request.detectors:
        fields = [f for f in detector.split_fields() if f]
        if not fields:
            total += 1
            continue
        exprs, params = [], []
        for name in fields:
            expr, expr_params = field_sql(name)
            exprs.append(expr)
            params.extend(expr_params)
        # Expressions come from field_sql (whitelisted columns, JSON paths bound) and the
        # datafeed's clause from the query grammar; every value is a bound parameter.
        sql = (
            f"SELECT count(DISTINCT series) FROM (SELECT ({', '.join(exprs)}) AS series "  # noqa: S608
            f"FROM events WHERE {where} LIMIT ?)"
        )
        rows = con.execute(sql, [*params, *where_params, SAMPLE_EVENTS]).fetchall()
        total += int(rows[0][0])
    return total


def costliest_first(con: duckdb.DuckDBPyConnection, jobs: Sequence[JobConfig]) -> list[int]:
    """Indexes of ``jobs`` by estimated cost, largest first (ties keep their order)."""
    costs = [estimated_series(con, job) for job in jobs]
    return sorted(range(len(jobs)), key=lambda i: -costs[i])


def run_in_threads(
    con: duckdb.DuckDBPyConnection,
    jobs: Sequence[JobConfig],
    run_one: Callable[[duckdb.DuckDBPyConnection, JobConfig, Stopped], T],
    threads: int,
) -> list[T]:
    """``run_one(connection, job, stopped)`` for every job, ``threads`` at a time, costliest
    first; the results in the order of ``jobs``. ``stopped()`` turns true when a thread failed:
    ``run_one`` should then raise :class:`RunStopped` before its next chunk."""
    order = costliest_first(con, jobs)
    results: dict[int, T] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()

    def next_job() -> int | None:
        with lock:
            return order.pop(0) if order and not stop.is_set() else None

    def lane(connection: duckdb.DuckDBPyConnection) -> None:
        try:
            while (i := next_job()) is not None:
                results[i] = run_one(connection, jobs[i], stop.is_set)
        except BaseException as exc:  # re-raised by the caller's thread below
            with lock:
                errors.append(exc)
                stop.set()

    def cursor_lane() -> None:
        with con.cursor() as cursor:
            lane(cursor)

    others = [
        threading.Thread(target=cursor_lane, name=f"trailspike-jobs-{n + 1}")
        for n in range(min(threads, len(jobs)) - 1)
    ]
    for thread in others:
        thread.start()
    lane(con)  # records its own failure, Ctrl-C included
    interrupted: BaseException | None = None
    for thread in others:
        while thread.is_alive():
            try:
                thread.join()
            except BaseException as exc:  # Ctrl-C while waiting: the others stop after a chunk
                stop.set()
                interrupted = interrupted or exc
    if interrupted is not None:
        raise interrupted
    if errors:
        raise errors[0]  # the first failure; the others' RunStopped follow from it
    return [results[i] for i in range(len(jobs))]
