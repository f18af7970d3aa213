"""Records of a flush explained together: influencers, early first events, rows as columns.

A ``rare`` record's influencers are its events' shares per influencer value (see
:func:`trailspike.jobs.influence.rare_influencers`): they depend on the events only, not on the
models, so they need not be found while the bucket is processed. :class:`Explanations` holds
the records until the processor flushes, then, in one query per detector for all buckets of the
flush (:func:`trailspike.features.record_evidence.record_evidence_of`), finds when each
anomalous category of a history run was first seen (its early record's data end) and the
influencer shares of every waiting record, final and early. The shares stay columns (a record
keeps where its rows are, :mod:`trailspike.jobs.shares`); all records' rows and influencer
results are built as columns from them (:func:`trailspike.jobs.records.record_columns`,
:func:`trailspike.jobs.shares.influencer_columns`).

Implementation decisions:

- What a row depends on is frozen when the bucket is processed: its records, their scores,
  and a copy of the job's normaliser (influencer scores are normalised against the history as it
  was after the bucket was observed, exactly as when they were computed in place). The rows are
  therefore identical to those built bucket by bucket; only the query count changes (the user
  job made two queries per bucket and built a dict of every series' first event: 6.9 + 1.7 of
  23 s in a 4-day profile).
- A bucket whose records are all explained already (other functions, whose influencers are
  experiments against the models before they learn, or a job without influencers) gets its
  influencer rows at once; no copy of the normaliser is made.
- Rows keep the order of the bucket-by-bucket version: records in bucket order, per bucket in
  detector order, and influencer results in the order their values were first met.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from trailspike.features.contract import FeatureRequest
from trailspike.features.record_evidence import FirstColumns, WantedColumns, record_evidence_of
from trailspike.jobs.detectors import Scored
from trailspike.jobs.early import seen_by_many
from trailspike.jobs.influence import INFLUENCE_CUTOFF
from trailspike.jobs.novelty import early_result, known_surprises
from trailspike.jobs.records import record_columns
from trailspike.jobs.schema import Detector
from trailspike.jobs.shares import Found, Shares, gather, influencer_columns
from trailspike.models.normalizer import ScoreNormalizer


@dataclass
class PendingRecord:
    """A record waiting for its row: ``found`` is None until its influencers are counted;
    ``data_end`` is set for an early record (its influencers count events before it)."""

    det: Detector
    scored: Scored
    score: float
    found: Found = None
    data_end: datetime | None = None
    # Early records of a burst of novelty: the normaliser to score what was known by data_end.
    normalizer: ScoreNormalizer | None = None


@dataclass
class _PendingBucket:
    bucket: datetime
    records: list[PendingRecord]
    normalizer: ScoreNormalizer


class Explanations:
    """Records of processed buckets waiting for their influencers, and the rows they become."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        request: FeatureRequest,
        job_id: str,
        span: int,
        influencer_fields: tuple[str, ...],
    ) -> None:
        self.con = con
        self.request = request
        self.job_id = job_id
        self.span = span
        self.fields = influencer_fields
        self.buckets: list[_PendingBucket] = []
        self.early: list[tuple[datetime, PendingRecord]] = []
        self.first_unknown: list[tuple[datetime, PendingRecord]] = []
        # Explained records whose rows are built as columns by take_columns.
        self.finished: dict[bool, list[tuple[datetime, PendingRecord]]] = {False: [], True: []}
        # Influencer results of the resolved buckets, as columns (take_influencers).
        self.influencers: list[dict[str, Any]] = []

    def add_bucket(
        self,
        bucket: datetime,
        records: list[PendingRecord],
        normalizer: ScoreNormalizer,
    ) -> None:
        """Queue the bucket's records and its influencer results: now if every record is
        explained, else at :meth:`resolve` (scored against a copy of ``normalizer``)."""
        if not records:
            return
        if all(r.found is not None for r in records):
            self._resolved_influencers([_PendingBucket(bucket, records, normalizer)])
            return
        self.buckets.append(_PendingBucket(bucket, records, normalizer.snapshot()))

    def add_early(self, bucket: datetime, records: list[PendingRecord]) -> None:
        """Queue early records, written at the next flush. A record without
        ``data_end`` gets it at :meth:`resolve` from its category's first event in the bucket
        (the end of that minute), and its ``actual`` from the events of that minute."""
        for record in records:
            if record.data_end is None:
                self.first_unknown.append((bucket, record))
            elif record.found is None:
                self.early.append((bucket, record))
            else:
                self.finished[True].append((bucket, record))

    def resolve(self) -> None:
        """Find the first events and influencers of every waiting record (one query per
        detector); queue the influencer results (:meth:`take_influencers`) and the records
        (:meth:`take_columns`)."""
        waiting: dict[int, list[tuple[datetime, PendingRecord, bool]]] = defaultdict(list)
        for pending in self.buckets:
            for record in pending.records:
                if record.found is None:
                    waiting[record.scored.detector_index].append((pending.bucket, record, False))
        for bucket, record in self.early:
            waiting[record.scored.detector_index].append((bucket, record, False))
        for bucket, record in self.first_unknown:
            waiting[record.scored.detector_index].append((bucket, record, True))
        for index, items in waiting.items():
            self._explain(index, items)
        self._resolved_influencers(self.buckets)
        self.buckets, self.early, self.first_unknown = [], [], []

    def _resolved_influencers(self, pending: list[_PendingBucket]) -> None:
        """Queue the records of ``pending`` and their influencer results, built as columns from
        all their influences at once (:func:`trailspike.jobs.shares.influencer_columns`)."""
        records = [(n, r) for n, bucket in enumerate(pending) for r in bucket.records]
        self.finished[False].extend((pending[n].bucket, r) for n, r in records)
        columns = influencer_columns(
            self.job_id,
            self.span,
            [b.bucket for b in pending],
            [b.normalizer for b in pending],
            [n for n, _ in records],
            [r.scored.probability for _, r in records],
            [r.scored.confidence for _, r in records],
            gather([r.found for _, r in records], self.fields),
        )
        if columns is not None:
            self.influencers.append(columns)

    def take_influencers(self) -> pa.Table | None:
        """The influencer results of the resolved buckets, or None; handed over once."""
        done, self.influencers = self.influencers, []
        if not done:
            return None
        return pa.concat_tables([pa.table(columns) for columns in done])

    def _explain(self, index: int, items: list[tuple[datetime, PendingRecord, bool]]) -> None:
        """Explain ``items`` (records of detector ``index``; the flag: an early record whose
        data end is the end of the minute of its category's first event, found here with its
        ``actual``, the events of that minute). Influencers are the values with at least
        :data:`INFLUENCE_CUTOFF` of their field's events (as ``rare_influencers``, with the
        shares computed in SQL). The records go to the query and come back as columns; the
        only Python per record sets its result on its :class:`PendingRecord`."""
        records = [r for _, r, _ in items]
        wanted = WantedColumns(
            [b for b, _, _ in items],
            [r.scored.key for r in records],
            [r.data_end for r in records],
            [first for _, _, first in items],
        )
        feature = self.request.detectors[index]
        firsts, shares = record_evidence_of(
            self.con, self.request, feature, self.fields, wanted, INFLUENCE_CUTOFF
        )
        bursts = _date_first_events(items, firsts)
        # Rows are sorted by record: record n's influences are rows bounds[n]:bounds[n + 1],
        # in rare_influencers' order already (record_evidence_of sorts them). A flagged record
        # without events gets them too but is dropped: nothing was known early.
        bounds = np.searchsorted(shares.record, np.arange(len(items) + 1)).tolist()
        for record, lo, hi in zip(records, bounds, bounds[1:], strict=False):
            record.found = Shares(shares, lo, hi)
        for burst in bursts.values():
            count_known_novelty(burst)
        # Early records (with a data end); final ones go per bucket.
        early = [(b, r) for b, r, _ in items if r.data_end is not None]
        self.finished[True].extend((b, r) for b, r in early if r.score > 0.0)

    def take_columns(self, early: bool) -> dict[str, list[Any]] | None:
        """The explained final (``early``: early) records' rows as columns, or None; they are
        handed over once."""
        done, self.finished[early] = self.finished[early], []
        if not done:
            return None
        records = [r for _, r in done]
        columns = record_columns(
            self.job_id,
            self.span,
            [b for b, _ in done],
            [r.det for r in records],
            [r.scored for r in records],
            [r.score for r in records],
            gather([r.found for r in records], self.fields),
        )
        if early:
            columns["data_end"] = [r.data_end for r in records]
        return columns


def _date_first_events(
    items: list[tuple[datetime, PendingRecord, bool]], firsts: FirstColumns
) -> dict[datetime, list[PendingRecord]]:
    """Give each flagged record with events in its bucket its data end (the end of the minute
    of its series' first event) and its ``actual`` (the events of that minute); return those
    of a burst of novelty by bucket, in record order (``firsts`` is by ascending record)."""
    bursts: dict[datetime, list[PendingRecord]] = defaultdict(list)
    ends = seen_by_many(firsts.first)
    for n, end, events in zip(firsts.record.tolist(), ends, firsts.events.tolist(), strict=True):
        bucket, record, _ = items[n]
        record.scored = with_actual(record.scored, float(events))
        record.data_end = end
        if record.normalizer is not None:
            bursts[bucket].append(record)
    return bursts


def count_known_novelty(records: list[PendingRecord]) -> None:
    """Early records of one bucket that belong to a burst of novelty: result and score with
    the new categories known by each one's data end (:mod:`trailspike.jobs.novelty`)."""
    burst = [(r, r.data_end) for r in records if r.normalizer is not None and r.data_end]
    known = known_surprises([(r.scored, end) for r, end in burst])
    for (record, _), surprises in zip(burst, known, strict=True):
        before = record.scored.probability
        record.scored = early_result(record.scored, surprises)
        p = record.scored.probability
        if record.normalizer is not None and p != before:
            conf = record.scored.confidence
            record.score = float(record.normalizer.normalize_many([p], [conf])[0])


def with_actual(scored: Scored, actual: float) -> Scored:
    """A copy of ``scored`` with another ``actual`` (the final record keeps the original).
    Built from the instance dict: ``copy.copy`` took 0.7 s for the user job's 91k early records
    over 21 days, ``dataclasses.replace`` five times that.

    >>> s = Scored(0, ("u", "A", ""), 3.0, 1e-4, 1.0)
    >>> with_actual(s, 1.0).actual, s.actual
    (1.0, 3.0)
    """
    out: Scored = object.__new__(Scored)
    attributes = scored.__dict__.copy()  # a copy and one store: 40 % less than update()
    attributes["actual"] = actual
    out.__dict__ = attributes
    return out
