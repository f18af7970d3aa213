"""Which buckets a job run processes, and in which chunks (one transaction each).

:func:`plan` cuts the run's window into base chunks of ``commit_interval`` event time (one day
by default); :func:`occupied` keeps those holding events for jobs that skip empty buckets.
:func:`paced_chunks` then joins consecutive base chunks into the chunks actually processed:

- A chunk is one read of its features, one flush of its results and one commit of results,
  models and ``last_bucket_end``. Fewer, longer chunks cost less (the five jobs over the 21
  days of the 2M-event store: 21 one-day chunks each 15.5 CPU s, chunks of 1, 2, 4, 7 and 7
  days 12.0; docs/jobs.md), and results never depend on how a run is chunked.
- A killed run loses the open chunk, so a chunk's length is bounded by wall time as well as by
  event time: after each chunk the next one is sized from its pace so that it should take
  about ``commit_seconds`` (setting ``history_commit_seconds``), at most twice the event time of
  the last one and at most ``longest`` (setting ``history_commit_max``). A run over less than
  one base chunk (the service's runs every few minutes) is one chunk, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from trailspike.core.timeutil import bucket_start, parse_duration
from trailspike.features.contract import FeatureRequest
from trailspike.features.query import compile_where
from trailspike.jobs.schema import JobConfig

DEFAULT_COMMIT_INTERVAL = timedelta(days=1)
DEFAULT_COMMIT_MAX = "7d"
DEFAULT_COMMIT_SECONDS = "30s"

Chunk = tuple[datetime, datetime]


@dataclass(frozen=True)
class CommitPolicy:
    """How much work a job run does per transaction.

    ``base`` is the event time of the first chunk and the unit chunks grow by; ``longest`` the
    most event time in one chunk; ``seconds`` the wall time a chunk should take at most (what a
    killed run loses, as estimated from the previous chunk's pace); ``clock`` the wall clock
    (injectable, so tests can force or prevent growth without depending on speed).
    """

    base: timedelta = DEFAULT_COMMIT_INTERVAL
    longest: timedelta = field(default_factory=lambda: parse_duration(DEFAULT_COMMIT_MAX))
    seconds: float = parse_duration(DEFAULT_COMMIT_SECONDS).total_seconds()
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], base: timedelta) -> CommitPolicy:
        longest = parse_duration(str(settings.get("history_commit_max", DEFAULT_COMMIT_MAX)))
        budget = parse_duration(str(settings.get("history_commit_seconds", DEFAULT_COMMIT_SECONDS)))
        return cls(base=base, longest=max(base, longest), seconds=budget.total_seconds())

    def next_span(self, done: timedelta, elapsed: float) -> timedelta:
        """Event time of the next chunk after one of ``done`` took ``elapsed`` wall seconds."""
        limit = min(self.longest, 2 * done)
        target = limit if elapsed <= 0 else min(limit, done * (self.seconds / elapsed))
        return max(self.base, target)


@dataclass
class Window:
    """The buckets a run processes, ``begin`` to ``end``, cut into base chunks."""

    begin: datetime
    end: datetime
    chunks: list[Chunk] = field(default_factory=list)


def plan(
    job: JobConfig,
    resume_from: datetime | None,
    first_event: datetime | None,
    last_event: datetime | None,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    delay: timedelta,
    commit_interval: timedelta,
    delivery_delay: timedelta = timedelta(0),
) -> Window | None:
    """The window of final buckets not processed yet, or None without events or a start."""
    span = job.bucket_span
    if resume_from is not None:
        begin = resume_from
        if start is not None and bucket_start(start, span) > begin:
            begin = bucket_start(start, span)
    elif start is not None:
        begin = bucket_start(start, span)
    elif first_event is not None:
        begin = bucket_start(first_event, span)
    else:
        return None
    if end is not None:
        limit = min(now - delay, end)
    elif last_event is not None:
        limit = min(now - delay - delivery_delay, last_event)
    else:
        return None
    stop = bucket_start(limit, span)
    if stop <= begin:
        return Window(begin, begin)
    window = Window(begin, stop)
    step = max(span, (commit_interval // span) * span)
    t = begin
    while t < stop:
        window.chunks.append((t, min(stop, t + step)))
        t = window.chunks[-1][1]
    return window


def occupied(
    con: duckdb.DuckDBPyConnection, request: FeatureRequest, window: Window
) -> list[Chunk]:
    """The chunks of ``window`` that hold events the job selects (the others change nothing
    for a job without zero-filled functions)."""
    if not window.chunks:
        return []
    step = window.chunks[0][1] - window.chunks[0][0]
    where, params = compile_where(request.where)
    # `where` comes from the whitelisted query grammar; every value is a bound parameter.
    rows = con.execute(
        "SELECT DISTINCT time_bucket(?::INTERVAL, ts, ?::TIMESTAMP) FROM events "  # noqa: S608
        f"WHERE ts >= ? AND ts < ? AND {where}",
        [step, window.begin, window.begin, window.end, *params],
    ).fetchall()
    found = {row[0] for row in rows}
    return [chunk for chunk in window.chunks if chunk[0] in found]


def paced_chunks(chunks: list[Chunk], policy: CommitPolicy) -> Iterator[Chunk]:
    """Consecutive base ``chunks`` joined into chunks sized by ``policy``; each is timed from
    when it is yielded until the next is asked for (processing and commit)."""
    span = policy.base
    i = 0
    while i < len(chunks):
        first = chunks[i][0]
        j = i
        # Whole base chunks only, so chunk ends stay on the same grid as one-day commits.
        while j + 1 < len(chunks) and chunks[j + 1][1] - first <= span:
            j += 1
        last = chunks[j][1]
        began = policy.clock()
        yield first, last
        span = policy.next_span(last - first, policy.clock() - began)
        i = j + 1
