"""Events stored out of time: after a job has analysed past them, or dated in the future.

A job only goes forward: once a bucket is final (its end plus the delivery and query delays,
with later events ingested) it is scored and never revisited. Events that arrive later than
that, a CloudTrail file delivered late, a forgotten region or account ingested next week, are
stored but never modelled, and nothing said so. Elastic's datafeeds warn of this in an
annotation ("Datafeed has missed N documents due to ingest latency"); trailspike counts, per
job, the events an ingest run stores before that job's ``last_bucket_end`` that the job's
datafeed selects, and the run ends with a note on how to bring them in.

Implementation decisions: each batch is checked inside its transaction, right after its
insert, by joining the ids of its stored rows older than some job's end with ``events`` and
applying the datafeed there (exact, any field, memory bounded by a batch). A batch with
nothing that old, the live case, costs one minimum over its times. A job whose definition is
not shipped (a ``--job-file``) is counted without its datafeed filter.

Events dated after the time of ingest (a clock set wrong, a forged record) are stored, counted
and named in a note; jobs do not let them vouch for buckets before their time
(``jobs/runner.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from trailspike.core.errors import ConfigError
from trailspike.features.query import Clause, compile_where
from trailspike.jobs.loader import load_jobs


@dataclass(frozen=True)
class LateEvents:
    """Events of one ingest run that one job has already analysed past."""

    job_id: str
    events: int
    analysed_to: datetime  # the job's last_bucket_end


def late_note(found: Sequence[LateEvents]) -> str:
    """One warning for the analyst, naming each job and the commands that bring the events in.

    >>> print(late_note([LateEvents("rare_error_code", 1200, datetime(2026, 1, 31)),
    ...                  LateEvents("rare_method_for_a_city", 80, datetime(2026, 1, 31, 1))]))
    events stored now are older than what jobs have analysed, and the jobs do not go back for
    them: rare_error_code 1,200 (analysed up to 2026-01-31 00:00 UTC), rare_method_for_a_city
    80 (2026-01-31 01:00). To model them, run `trailspike jobs reset rare_error_code
    rare_method_for_a_city` and then `trailspike jobs run`.
    """
    parts = [
        f"{late.job_id} {late.events:,} "
        + (
            f"(analysed up to {late.analysed_to:%Y-%m-%d %H:%M} UTC)"
            if i == 0
            else f"({late.analysed_to:%Y-%m-%d %H:%M})"
        )
        for i, late in enumerate(found)
    ]
    ids = " ".join(late.job_id for late in found)
    return (
        "events stored now are older than what jobs have analysed, and the jobs do not go back "
        f"for them: {', '.join(parts)}. To model them, run `trailspike jobs reset {ids}` and "
        "then `trailspike jobs run`."
    )


class LateCheck:
    """Counts, over one ingest run, the stored events each job has already analysed past."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        rows = con.execute(
            "SELECT job_id, last_bucket_end FROM job_state "
            "WHERE last_bucket_end IS NOT NULL ORDER BY job_id"
        ).fetchall()
        self.ends: dict[str, datetime] = dict(rows)
        self.latest = max(self.ends.values(), default=None)
        self.clauses = _datafeed_clauses() if self.ends else {}
        self.counts: Counter[str] = Counter()
        self.uncommitted: Counter[str] = Counter()  # of the open transaction

    def observe(self, table: pa.Table, keep: list[int]) -> None:
        """Count the ``keep`` rows of ``table`` (just inserted, in the open transaction)."""
        if self.latest is None or not keep:
            return
        # The normaliser writes ISO times ("2026-01-31T00:00:00.000Z"), whose first 19
        # characters sort as the times do: a batch with none older than every job's end, the
        # live case, stops here.
        oldest = pc.min(table.column("ts")).as_py()
        if oldest is None or str(oldest)[:19] >= f"{self.latest:%Y-%m-%dT%H:%M:%S}":
            return
        rows = _stored(table, keep)
        self.con.register(
            "_trailspike_late", pa.table({"event_id": rows["event_id"], "ts": rows["ts"]})
        )
        try:
            for job_id, end in self.ends.items():
                self.uncommitted[job_id] += self._count(job_id, end)
        finally:
            self.con.unregister("_trailspike_late")

    def _count(self, job_id: str, end: datetime) -> int:
        where, params = compile_where(self.clauses.get(job_id))
        # `where` is compiled from the whitelisted query grammar; values are bound parameters.
        sql = (
            "WITH k AS (SELECT event_id, CAST(ts AS TIMESTAMP) AS ts FROM _trailspike_late) "  # noqa: S608
            "SELECT count(*) FROM events SEMI JOIN k ON events.event_id = k.event_id "
            "AND events.ts = k.ts WHERE events.ts < ? AND events.ts >= (SELECT min(ts) FROM k) "
            f"AND {where}"
        )
        return int(self.con.execute(sql, [end, *params]).fetchall()[0][0])

    def commit(self) -> None:
        """The open transaction committed: its rows count."""
        self.counts += self.uncommitted
        self.uncommitted.clear()

    def rollback(self) -> None:
        """The open transaction rolled back: its rows were never stored."""
        self.uncommitted.clear()

    def found(self) -> list[LateEvents]:
        """The jobs with late events, by id."""
        return [LateEvents(j, n, self.ends[j]) for j, n in sorted(self.counts.items()) if n]


def _stored(table: pa.Table, keep: list[int]) -> pa.Table:
    """The ``keep`` rows of a batch: the ones inserted (the others were duplicates)."""
    return table if len(keep) == table.num_rows else table.take(pa.array(keep, pa.int64()))


def _datafeed_clauses() -> dict[str, Clause]:
    """The shipped jobs' parsed datafeed queries, by job id (none if they cannot be loaded)."""
    try:
        return {job.job_id: job.datafeed.clause() for job in load_jobs()}
    except ConfigError:
        return {}


FUTURE_TOLERANCE = timedelta(hours=1)  # clock skew between AWS and this machine


@dataclass
class FutureEvents:
    """Events of one ingest run dated after the time of ingest."""

    bound: str  # ISO time: ingest time plus FUTURE_TOLERANCE, as the normaliser writes times
    count: int = 0
    latest: str = ""

    @classmethod
    def after(cls, now: datetime) -> FutureEvents:
        return cls(f"{now + FUTURE_TOLERANCE:%Y-%m-%dT%H:%M:%S}.999Z")

    def observe(self, table: pa.Table, keep: list[int]) -> None:
        """Count the ``keep`` rows of ``table`` dated after the bound."""
        if not keep:
            return
        latest = pc.max(table.column("ts")).as_py()
        if latest is None or latest <= self.bound:
            return
        rows = _stored(table, keep)
        ahead = pc.filter(rows.column("ts"), pc.greater(rows.column("ts"), self.bound))
        if len(ahead):
            self.count += len(ahead)
            self.latest = max(self.latest, str(pc.max(ahead).as_py()))

    def note(self) -> str | None:
        """The note for the analyst, or None when every event was in time.

        >>> f = FutureEvents("2026-01-01T01:00:00.999Z", 2, "2099-01-01T00:00:00.000Z")
        >>> print(f.note())
        2 events dated after the time of ingest (the latest 2099-01-01T00:00:00.000Z): a clock
        set wrong or a forged record. They are stored; no job treats a bucket as complete
        because of them.
        """
        if not self.count:
            return None
        events = "1 event" if self.count == 1 else f"{self.count:,} events"
        return (
            f"{events} dated after the time of ingest (the latest {self.latest}): a clock set "
            "wrong or a forged record. They are stored; no job treats a bucket as complete "
            "because of them."
        )
