"""Processing one bucket of one job: score, normalise, explain, write, learn, renormalise.

:class:`JobModels` is everything a job has learnt (the detectors' models and the job's score
normaliser); it is pickled whole into ``job_state`` after every chunk. :class:`BucketProcessor`
applies one bucket's feature rows to it and queues the result rows, which :meth:`flush` writes.

Implementation decisions: the order inside a bucket is fixed (score every series, let the
normaliser observe every probability, normalise the anomalous ones, find their influencers
against the not-yet-updated models, then learn), so results depend only on the events and the
persisted state, never on how the work was split into runs. Housekeeping (pruning, the memory
limit) runs at the first processed bucket of each UTC day for the same reason. Results a custom
rule marks ``skip_result`` are neither written nor observed by the normaliser. One-sided
functions get no record for a value on the expected side of typical (see
:func:`_on_anomalous_side`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from trailspike.features.contract import FeatureRequest
from trailspike.features.evidence import bucket_slice
from trailspike.jobs.detectors import RECORD_PROBABILITY, DetectorModels, Key, Scored
from trailspike.jobs.early import EarlyBucket, eligible, seen_by
from trailspike.jobs.explain import Explanations, PendingRecord, count_known_novelty
from trailspike.jobs.influence import Influence, find_influencers
from trailspike.jobs.memory import estimate_memory
from trailspike.jobs.records import (
    model_plot_row,
    on_anomalous_side,
    plot_terms,
    plots,
    record_row,
)
from trailspike.jobs.rescore import rescore_window
from trailspike.jobs.rows import ChunkCategories, ChunkColumns, RareRows, run_starts
from trailspike.jobs.schema import Detector, JobConfig
from trailspike.models.factory import ScoreNormalizer, new_normalizer
from trailspike.store.results import (
    write_buckets,
    write_early_records,
    write_influencer_columns,
    write_model_plot,
    write_record_columns,
    write_records,
)

EPOCH = datetime(1970, 1, 1)
MAX_ANOMALOUS_PROBABILITY = RECORD_PROBABILITY
DAY = 86400
BucketRows = dict[int, Mapping[Key, float]]


def _codes(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Integer codes of a text column (equal text, equal code), for finding runs."""
    indices = pc.dictionary_encode(column).combine_chunks().indices
    codes: npt.NDArray[np.int64] = pc.fill_null(indices, -1).to_numpy().astype(np.int64)
    return codes


def _encoded_by(
    column: pa.ChunkedArray, counts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], ChunkCategories]:
    """The chunk's ``by`` values as codes into one :class:`~trailspike.jobs.rows.ChunkCategories`
    (so the rare models look each distinct value up once per chunk, not once per row)."""
    encoded = pc.dictionary_encode(column.combine_chunks())  # one dictionary for all rows
    codes: npt.NDArray[np.int64] = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)
    return codes, counts, ChunkCategories(encoded.dictionary.to_pylist())


@dataclass
class JobModels:
    """A job's learnt state: one :class:`DetectorModels` per detector and the normaliser."""

    normalizer: ScoreNormalizer
    detectors: list[DetectorModels]
    housekeeping_day: int = -1  # UTC day number of the last housekeeping

    @classmethod
    def new(cls, job: JobConfig) -> JobModels:
        span = float(job.bucket_span_seconds)
        detectors = [
            DetectorModels(i, d.function, span) for i, d in enumerate(job.analysis_config.detectors)
        ]
        return cls(new_normalizer(), detectors)


class BucketProcessor:
    """Applies buckets to a job's models and queues their results."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        job: JobConfig,
        request: FeatureRequest,
        models: JobModels,
        renormalization_window: timedelta,
    ) -> None:
        self.con = con
        self.job = job
        self.request = request
        self.models = models
        self.window = renormalization_window
        self.span = job.bucket_span_seconds
        self.influencer_fields = tuple(job.analysis_config.influencers)
        self.plot_terms = plot_terms(job)
        self.zero_fills = any(d.spec.zero_fill for d in job.analysis_config.detectors)
        self.rare_detectors = frozenset(
            i for i, d in enumerate(job.analysis_config.detectors) if d.spec.is_rare
        )
        self.pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._stats = self._zero_stats()
        self.early_step: timedelta | None = None  # set by the runner (jobs/early.py)
        # Set by the runner for history: rare early records of buckets processed without
        # ``first_seen`` find their first events at flush (jobs/explain.py).
        self.defer_rare_early = False
        self.explanations = Explanations(
            con, request, job.job_id, self.span, self.influencer_fields
        )

    @staticmethod
    def _zero_stats() -> dict[str, Any]:
        return {
            "buckets": 0,
            "events": 0,
            "records": 0,
            "renormalizations": 0,
            "max_score": 0.0,
            "early_records": 0,
            "pruned": 0,
            "memory_status": "ok",
        }

    def housekeeping(self, t: float) -> None:
        """Prune models unseen for ``model_prune_window``, then enforce the memory limit by
        dropping the least recently seen models."""
        detectors = self.models.detectors
        horizon = t - self.job.model_prune_window.total_seconds()
        self._stats["pruned"] += sum(d.prune(horizon) for d in detectors)
        limit = self.job.model_memory_limit_bytes
        used = estimate_memory(self.models)
        for det in detectors:
            det.at_memory_limit = used > limit
        if used <= limit:
            return
        self._stats["memory_status"] = "hard_limit"
        total = sum(d.model_count for d in detectors) or 1
        excess = int((used - 0.9 * limit) / (used / total)) + 1
        for det in detectors:
            for _, key in det.oldest(int(excess * det.model_count / total) + 1):
                det.drop(key)
                self._stats["pruned"] += 1

    def take_stats(self) -> dict[str, Any]:
        """Counters since the last call."""
        stats, self._stats = self._stats, self._zero_stats()
        return stats

    @staticmethod
    def group(features: pa.Table, rare: frozenset[int] = frozenset()) -> dict[datetime, BucketRows]:
        """Feature rows grouped by bucket start, then detector, then series key.

        Rows come sorted by detector and bucket, so each (detector, bucket) run is found with
        one array comparison and turned into its mapping in one step (no per-row Python). For
        the detectors in ``rare`` the mapping is a :class:`~trailspike.jobs.rows.RareRows`
        holding the per-partition groups its models want.
        """
        out: dict[datetime, BucketRows] = {}
        if features.num_rows == 0:
            return out
        detector = features["detector_index"].to_numpy()
        stamps = features["bucket_start"].cast(pa.int64()).to_numpy()
        change = np.flatnonzero((np.diff(detector) != 0) | (np.diff(stamps) != 0)) + 1
        bounds = [0, *change.tolist(), features.num_rows]
        # Bucket starts only at run boundaries: a datetime per row was 3/4 of the cost.
        starts = features["bucket_start"].take(bounds[:-1]).to_pylist()
        # Python lists of the columns only if a run is read as dicts (rare rows stay arrays).
        columns = ChunkColumns(features)
        if rare:
            codes = [_codes(features[name]) for name in ("partition", "over")]
            runs = run_starts(codes[0], codes[1])
            count_array = features["value"].to_numpy().astype(np.int64)
            encoded = _encoded_by(features["by"], count_array)
        for start, lo, hi in zip(starts, bounds[:-1], bounds[1:], strict=True):
            index = int(detector[lo])
            bucket_rows = out.setdefault(start, {})
            if index in rare and index not in bucket_rows:
                bucket_rows[index] = RareRows(columns, runs, lo, hi, encoded)
                continue
            parts, bys, overs, values = columns.lists()
            keys = zip(parts[lo:hi], bys[lo:hi], overs[lo:hi], strict=True)
            rows = dict(zip(keys, values[lo:hi], strict=True))
            if index in bucket_rows:
                # Unsorted input (not what compute_features returns) still groups correctly.
                rows = {**bucket_rows[index], **rows}
            bucket_rows[index] = rows
        return out

    # ------------------------------------------------------------------ one bucket
    def process(
        self,
        bucket: datetime,
        rows: BucketRows,
        event_count: int,
        early: EarlyBucket | None = None,
    ) -> None:
        """Score, explain, queue and learn the bucket starting at ``bucket``, and queue its
        early results (``early``) as a live run would have found them while it was open."""
        t = self._start_bucket(bucket)
        norm = self.models.normalizer
        detectors = self.job.analysis_config.detectors
        scored_all: list[tuple[Detector, DetectorModels, Mapping[Key, float], list[Scored]]] = []
        observed_all: list[list[float]] = []
        for det, dm in zip(detectors, self.models.detectors, strict=True):
            values = dm.fill_zeros(det, rows.get(dm.detector_index, {}))
            observed, scored = dm.score_for_results(det, self.job.filters, t, values)
            scored_all.append((det, dm, values, scored))
            observed_all.append(observed)
        if early is not None or self.defer_rare_early:
            # Before the normaliser observes this bucket: a live run had not seen it either.
            early = early if early is not None else EarlyBucket()
            self._queue_early(bucket, t, early, [(d, m, s) for d, m, _, s in scored_all])
        norm.observe_bucket(
            [p for observed in observed_all for p in observed], t, self.job.bucket_span_seconds
        )
        top = 0.0
        records: list[PendingRecord] = []
        for det, dm, _, scored in scored_all:
            top = max(top, self._records(bucket, t, det, dm, scored, records))
            if plots(self.job, det):
                self._queue_plots(bucket, scored)
        for det, dm, values, scored in scored_all:
            skip = {s.key for s in scored if "skip_model_update" in s.actions}
            dm.learn(det, t, values, skip)
        # Influencer scores use the normaliser as it is now (a copy if the rows wait for flush).
        self.explanations.add_bucket(bucket, records, norm)
        self.pending["buckets"].append(
            {
                "job_id": self.job.job_id,
                "timestamp": bucket,
                "bucket_span": self.span,
                "anomaly_score": top,
                "initial_anomaly_score": top,
                "event_count": event_count,
            }
        )
        self._stats["buckets"] += 1
        self._stats["events"] += event_count
        if norm.renormalization_due():
            self.flush()
            self.renormalize(bucket + timedelta(seconds=self.span))
            norm.mark_renormalized()

    def _records(
        self,
        bucket: datetime,
        t: float,
        det: Detector,
        dm: DetectorModels,
        scored: list[Scored],
        records: list[PendingRecord],
    ) -> float:
        """Add the detector's anomalous records to ``records``; returns the highest score.

        A ``rare`` record's influencers are counted later, with the other buckets of the flush
        (:mod:`trailspike.jobs.explain`); others are found now, against the models before they
        learn the bucket."""
        keep = self._candidates(det, scored)
        if not keep:
            return 0.0
        if det.spec.is_rare and self.influencer_fields:
            explained: list[list[Influence] | None] = [None] * len(keep)
        else:
            explained = list(self._influencers(bucket, t, det, dm, [s for s, _ in keep]))
        for (s, score), found in zip(keep, explained, strict=True):
            records.append(PendingRecord(det, s, score, found))
            self._stats["records"] += 1
            self._stats["max_score"] = max(self._stats["max_score"], score)
        return max(score for _, score in keep)

    def _candidates(self, det: Detector, scored: list[Scored]) -> list[tuple[Scored, float]]:
        """Anomalous results (on the function's side) with their score, if above 0."""
        candidates = [
            s
            for s in scored
            if s.probability < MAX_ANOMALOUS_PROBABILITY
            and "skip_result" not in s.actions
            and on_anomalous_side(det, s)
        ]
        if not candidates:
            return []
        # The same vectorised mapping renormalisation uses, so an unchanged history gives
        # record_score == initial_record_score to the last digit.
        scores = self.models.normalizer.normalize_many(
            [s.probability for s in candidates], [s.confidence for s in candidates]
        )
        return [(s, float(v)) for s, v in zip(candidates, scores, strict=True) if v > 0.0]

    def _start_bucket(self, bucket: datetime) -> float:
        """Epoch seconds of ``bucket``; runs the day's housekeeping at its first bucket."""
        t = (bucket - EPOCH).total_seconds()
        if int(t // DAY) != self.models.housekeeping_day:
            self.models.housekeeping_day = int(t // DAY)
            self.housekeeping(t)
        return t

    def score_open(self, bucket: datetime, rows: BucketRows, early: EarlyBucket) -> None:
        """Queue the early results of a bucket that has not ended (``rows``: its values so
        far); the models learn nothing and the state is not saved."""
        t = self._start_bucket(bucket)
        pairs = zip(self.job.analysis_config.detectors, self.models.detectors, strict=True)
        scored = [
            (det, dm, dm.score_for_results(det, self.job.filters, t, rows[dm.detector_index])[1])
            for det, dm in pairs
            if eligible(det.function) and dm.detector_index in rows
        ]
        self._queue_early(bucket, t, early, scored)

    def _queue_early(
        self,
        bucket: datetime,
        t: float,
        early: EarlyBucket,
        scored_all: list[tuple[Detector, DetectorModels, list[Scored]]],
    ) -> None:
        """Queue early records (:mod:`trailspike.jobs.early`): a rare category's record from
        the minute of its first event, a count's at each cut-off that already shows it."""
        bucket_end = bucket + timedelta(seconds=self.span)
        limit = min(bucket_end, early.until) if early.until is not None else bucket_end
        for det, dm, scored in scored_all:
            if not eligible(det.function):
                continue
            index = dm.detector_index
            unexplained: list[Influence] | None = None if self.influencer_fields else []
            if det.spec.is_rare and self._defers(early, index):
                candidates = self._candidates(det, scored)
                norm = self._burst_normalizer(candidates)
                deferred = [
                    PendingRecord(det, s, v, unexplained, normalizer=norm if s.novelty else None)
                    for s, v in candidates
                ]
                self._queue_rare_early(bucket, deferred)
                continue
            if det.spec.is_rare:
                first = early.first_seen.get(index, {})
                candidates = self._candidates(det, scored)
                norm = self._burst_normalizer(candidates)
                seen = [
                    # What was known then: the events of the first minute, not the hour's.
                    PendingRecord(
                        det,
                        replace(s, actual=float(first[s.key][1])),
                        score,
                        unexplained,
                        end,
                        norm if s.novelty else None,
                    )
                    for s, score in candidates
                    if s.key in first and (end := seen_by(first[s.key][0])) <= limit
                ]
                count_known_novelty(seen)
                self._queue_rare_early(bucket, [r for r in seen if r.score > 0.0])
                continue
            calm = self._calm_keys(scored)
            for data_end, rows in sorted(early.cuts.items()):
                if index in rows and data_end < limit:
                    if calm.issuperset(rows[index]):
                        continue  # a partial value is never more anomalous than the whole
                    _, partial = dm.score_for_results(det, self.job.filters, t, rows[index])
                    found = self._candidates(det, partial)
                    if found:
                        records = [s for s, _ in found]
                        explained = self._influencers(bucket, t, det, dm, records, data_end)
                        self._queue_early_rows(
                            bucket, det, found, explained, [data_end] * len(found)
                        )

    @staticmethod
    def _calm_keys(scored: list[Scored]) -> set[Key]:
        """The series whose whole bucket is not anomalous, whose partial buckets need no score.

        Early results are for functions a partial bucket can only understate (``high_count``,
        ``high_distinct_count``), scored by the same model as the whole bucket, whose
        probability never falls as the value falls: a part of a calm bucket is calm too, and
        custom rules only ever take candidates away. Scoring every partial bucket was about a
        tenth of the spike job's time on a real trail (the 4.3M-event demo world).
        """
        return {s.key for s in scored if s.probability >= MAX_ANOMALOUS_PROBABILITY}

    def _burst_normalizer(self, candidates: list[tuple[Scored, float]]) -> ScoreNormalizer | None:
        """The normaliser as it is now, frozen, when a candidate belongs to a burst of novelty
        (its early score is chosen once its data end is known)."""
        if not any(s.novelty for s, _ in candidates):
            return None
        return self.models.normalizer.snapshot()

    def _defers(self, early: EarlyBucket, index: int) -> bool:
        """Whether a rare detector's early records wait for their first events until flush:
        in history (the whole bucket is known), when ``first_seen`` was not computed."""
        return self.defer_rare_early and early.until is None and index not in early.first_seen

    def _queue_rare_early(self, bucket: datetime, records: list[PendingRecord]) -> None:
        """Early records of rare categories, each explained by the events before its own data
        end; the influencers (and, without a ``data_end``, the first events) are found at flush
        with the other records waiting (:mod:`trailspike.jobs.explain`)."""
        self._stats["early_records"] += len(records)
        self.explanations.add_early(bucket, records)

    def _queue_early_rows(
        self,
        bucket: datetime,
        det: Detector,
        found: list[tuple[Scored, float]],
        explained: list[list[Influence]],
        ends: list[datetime],
    ) -> None:
        for (s, score), influencers, end in zip(found, explained, ends, strict=True):
            row = record_row(self.job.job_id, det, bucket, self.span, s, score, influencers)
            self.pending["early_records"].append({**row, "data_end": end})
            self._stats["early_records"] += 1

    def _influencers(
        self,
        bucket: datetime,
        t: float,
        det: Detector,
        dm: DetectorModels,
        records: list[Scored],
        until: datetime | None = None,
    ) -> list[list[Influence]]:
        if not self.influencer_fields:
            return [[] for _ in records]
        feature = self.request.detectors[dm.detector_index]
        table = bucket_slice(
            self.con, self.request, feature, bucket, self.influencer_fields, until=until
        )
        cols = table.to_pydict()
        rows_of: dict[Key, list[int]] = defaultdict(list)
        for n, key in enumerate(zip(cols["partition"], cols["by"], cols["over"], strict=True)):
            rows_of[key].append(n)
        out = []
        for s in records:
            idx = rows_of.get(s.key, [])
            xs = [cols["x"][n] for n in idx]
            columns = [
                (name, [cols[f"i{j}"][n] for n in idx])
                for j, name in enumerate(self.influencer_fields)
            ]

            # When this bucket is anomalous on its own, explain that: removing a value cannot
            # undo the earlier buckets a multi-bucket anomaly also rests on.
            single = s.single_bucket_probability
            use_single = single is not None and single < MAX_ANOMALOUS_PROBABILITY
            base = single if use_single and single is not None else s.probability

            def rescore(value: float, key: Key = s.key, one: bool = use_single) -> float:
                return dm.rescore(key, t, value, single=one)

            out.append(find_influencers(det.spec, base, xs, columns, rescore))
        return out

    def _queue_plots(self, bucket: datetime, scored: list[Scored]) -> None:
        for s in scored:
            if s.typical is None:
                continue
            if self.plot_terms is not None and not ({s.key[0], s.key[1]} & self.plot_terms):
                continue
            self.pending["model_plot"].append(model_plot_row(self.job.job_id, bucket, s))

    # ------------------------------------------------------------------ output
    def flush(self) -> None:
        """Write the queued rows (inside the caller's transaction)."""
        self.explanations.resolve()
        write_buckets(self.con, self.pending.pop("buckets", []))
        write_records(self.con, self.pending.pop("records", []))
        write_early_records(self.con, self.pending.pop("early_records", []))
        influencers = self.explanations.take_influencers()
        if influencers is not None:
            write_influencer_columns(self.con, influencers)
        write_model_plot(self.con, self.pending.pop("model_plot", []))
        for early in (False, True):
            columns = self.explanations.take_columns(early)
            if columns is not None:
                write_record_columns(self.con, columns, early=early)

    def renormalize(self, end: datetime) -> None:
        """Recompute current scores of the job's results in the window ending at ``end``."""
        start = end - self.window
        rescore_window(self.con, self.job.job_id, start, end, self.models.normalizer.normalize_many)
        self._stats["renormalizations"] += 1
