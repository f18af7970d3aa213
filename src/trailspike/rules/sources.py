"""Where a rule execution finds its anomaly records: the store (live) or memory (backfill).

An execution at ``at`` with window ``[start, end]`` sees the final records of its jobs whose
bucket start lies in the window and, while a bucket is not final yet, its latest early result
(:mod:`trailspike.jobs.early`) — the same anomaly under the same ``record_id``, so it is alerted
on once, at the first result that shows it. Candidates are ranked as Kibana's query ranks them:
highest ``record_score`` first (ties by time and id), at most ``max_signals``.

Implementation decisions: live, a bucket is final once the job has processed it
(``job_state.last_bucket_end``); in a backfill over history the jobs have already scored, a
record is visible from when a live job would have written it: a final record at its bucket end
plus ``query_delay``, an early record at its data end plus ``query_delay`` until its bucket is
final. A backfill reads every candidate once and cuts each window in memory.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

import duckdb

from trailspike.rules.anomaly import AnomalyRecord, fetch_early_records, fetch_records
from trailspike.rules.schema import MachineLearningRuleData

# (window start, window end, execution time) -> (records to consider, how many matched)
RecordSource = Callable[[datetime, datetime, datetime], tuple[list[AnomalyRecord], int]]


def rank(records: Iterable[AnomalyRecord], size: int) -> tuple[list[AnomalyRecord], int]:
    """One candidate per ``record_id`` (a final record over early ones, then the latest early
    one), best first, at most ``size``; and how many there were."""
    best: dict[str, AnomalyRecord] = {}
    for r in records:
        held = best.get(r.record_id)
        if held is None or _newer(r, held):
            best[r.record_id] = r
    ordered = sorted(best.values(), key=lambda r: (-r.record_score, r.timestamp, r.record_id))
    return ordered[:size], len(ordered)


def _newer(candidate: AnomalyRecord, held: AnomalyRecord) -> bool:
    if held.data_end is None:
        return False
    return candidate.data_end is None or candidate.data_end > held.data_end


def query_source(
    con: duckdb.DuckDBPyConnection,
    rule: MachineLearningRuleData,
    last_bucket_end: Mapping[str, datetime | None],
) -> RecordSource:
    """Live: the store's final records, and early ones of buckets the job has not finished."""
    jobs = rule.job_ids()

    def fetch(start: datetime, end: datetime, at: datetime) -> tuple[list[AnomalyRecord], int]:
        final, total = fetch_records(
            con, jobs, start, end, rule.anomaly_threshold, rule.max_signals
        )
        early = [
            r
            for r in fetch_early_records(con, jobs, start, end, rule.anomaly_threshold)
            if _open(r, last_bucket_end.get(r.job_id))
        ]
        if not early:
            return final, total
        ranked, count = rank([*final, *early], rule.max_signals)
        return ranked, max(count, total)

    return fetch


def _open(record: AnomalyRecord, processed_until: datetime | None) -> bool:
    return processed_until is None or record.timestamp >= processed_until


class ReplaySource:
    """Backfill: every candidate of a range read once; each execution sees the records a live
    job would have written by then."""

    def __init__(self, candidates: list[AnomalyRecord], max_signals: int, query_delay: timedelta):
        self.candidates = sorted(candidates, key=lambda r: r.timestamp)
        self.stamps = [r.timestamp for r in self.candidates]
        self.max_signals = max_signals
        self.query_delay = query_delay

    def __call__(self, lo: datetime, hi: datetime, at: datetime) -> tuple[list[AnomalyRecord], int]:
        inside = self.candidates[bisect_left(self.stamps, lo) : bisect_right(self.stamps, hi)]
        return rank((r for r in inside if _visible(r, at, self.query_delay)), self.max_signals)

    def has_candidates(self, lo: datetime, hi: datetime) -> bool:
        """Whether any candidate lies in ``[lo, hi]`` (an execution there can raise an alert).

        >>> from datetime import datetime as dt
        >>> ReplaySource([], 100, timedelta(0)).has_candidates(dt(2026, 1, 1), dt(2026, 1, 2))
        False
        """
        return bisect_right(self.stamps, hi) > bisect_left(self.stamps, lo)


def replay_source(
    con: duckdb.DuckDBPyConnection,
    rule: MachineLearningRuleData,
    start: datetime,
    end: datetime,
    query_delay: timedelta,
) -> ReplaySource:
    """The candidates of ``[start, end]`` for a backfill of ``rule``, read once."""
    jobs = rule.job_ids()
    threshold = rule.anomaly_threshold
    final, _ = fetch_records(con, jobs, start, end, threshold, size=2**62)
    early = fetch_early_records(con, jobs, start, end, threshold)
    return ReplaySource([*final, *early], rule.max_signals, query_delay)


def _visible(record: AnomalyRecord, at: datetime, query_delay: timedelta) -> bool:
    """Whether a live job would have written ``record`` by ``at`` (and, for an early record,
    not yet finished its bucket)."""
    final_at = record.bucket_end + query_delay
    if record.data_end is None:
        return final_at <= at
    return record.data_end + query_delay <= at < final_at
