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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from trailspike.features.bucket_duckdb import bucket_influencer_counts, bucket_slice
from trailspike.features.contract import DetectorFeature, FeatureRequest
from trailspike.jobs.detectors import RECORD_PROBABILITY, DetectorModels, Key, Scored
from trailspike.jobs.influence import Influence, find_influencers, rare_influencers
from trailspike.jobs.records import (
    influencer_probability,
    model_plot_row,
    record_row,
)
from trailspike.jobs.schema import Detector, JobConfig
from trailspike.models.factory import ScoreNormalizer, memory_bytes, new_normalizer
from trailspike.store.results import (
    scored_in_window,
    update_scores,
    write_buckets,
    write_influencers,
    write_model_plot,
    write_records,
)

EPOCH = datetime(1970, 1, 1)
MAX_ANOMALOUS_PROBABILITY = RECORD_PROBABILITY
DAY = 86400
BucketRows = dict[int, dict[Key, float]]


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


MEMORY_SAMPLE = 16


def estimate_memory(models: JobModels) -> int:
    """Approximate bytes held by a job's models, from a fixed sample of each detector's models.

    Walking every model (:func:`~trailspike.models.state.memory_bytes`) of a job with thousands
    of partitions takes most of a second; a sample of :data:`MEMORY_SAMPLE` models, picked in
    key order so the estimate depends only on the state, is scaled to the model count. Objects
    the models share (the normaliser, population models) are counted once.
    """
    shared: list[Any] = [models.normalizer] + [d.population for d in models.detectors]
    base = memory_bytes(shared)
    total = float(base)
    for det in models.detectors:
        keys = sorted(det.last_seen)
        if not keys:
            continue
        step = max(1, len(keys) // MEMORY_SAMPLE)
        sample = [det.series.get(k) or det.rare.get(k) for k in keys[::step][:MEMORY_SAMPLE]]
        sampled = memory_bytes(shared + sample) - base
        total += sampled * len(keys) / len(sample) + memory_bytes(det.last_seen)
    return int(total)


def _on_anomalous_side(det: Detector, scored: Scored) -> bool:
    """False for a ``high_*`` value at or below typical, or a ``low_*`` value at or above it.

    One-sided functions only call higher (lower) than expected anomalous (Elastic's
    ``E_OneSidedAbove``/``Below``). A multi-bucket view can still give such a bucket a small
    probability, e.g. the quiet bucket right after a burst; a record saying "1 distinct message,
    typically 2, critical" would only confuse, so none is written.
    """
    if scored.typical is None:
        return True
    side = det.spec.side
    if side == "high":
        return scored.actual > scored.typical
    if side == "low":
        return scored.actual < scored.typical
    return True


def _plots(job: JobConfig, det: Detector) -> bool:
    if det.spec.is_rare:
        return False
    config = job.model_plot_config
    if config is not None and config.enabled:
        return True
    return not (det.by_field_name or det.over_field_name or det.partition_field_name)


def _plot_terms(job: JobConfig) -> set[str] | None:
    config = job.model_plot_config
    if config is None or not config.enabled or not config.terms:
        return None
    return {t.strip() for t in config.terms.split(",") if t.strip()}


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
        self.plot_terms = _plot_terms(job)
        self.zero_fills = any(d.spec.zero_fill for d in job.analysis_config.detectors)
        self.pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._stats = self._zero_stats()

    @staticmethod
    def _zero_stats() -> dict[str, Any]:
        return {
            "buckets": 0,
            "events": 0,
            "records": 0,
            "renormalizations": 0,
            "max_score": 0.0,
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
                det.series.pop(key, None)
                det.rare.pop(key, None)
                det.last_seen.pop(key, None)
                self._stats["pruned"] += 1

    def take_stats(self) -> dict[str, Any]:
        """Counters since the last call."""
        stats, self._stats = self._stats, self._zero_stats()
        return stats

    @staticmethod
    def group(features: pa.Table) -> dict[datetime, BucketRows]:
        """Feature rows grouped by bucket start, then detector, then series key.

        Rows come sorted by detector and bucket, so each (detector, bucket) run is found with
        one array comparison and turned into its dict in one step (no per-row Python).
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
        cols = features.select(["partition", "by", "over", "value"]).to_pydict()
        parts, bys, overs, values = cols["partition"], cols["by"], cols["over"], cols["value"]
        for start, lo, hi in zip(starts, bounds[:-1], bounds[1:], strict=True):
            keys = zip(parts[lo:hi], bys[lo:hi], overs[lo:hi], strict=True)
            rows = dict(zip(keys, values[lo:hi], strict=True))
            # Unsorted input (not what compute_features returns) still groups correctly.
            out.setdefault(start, {}).setdefault(int(detector[lo]), {}).update(rows)
        return out

    # ------------------------------------------------------------------ one bucket
    def process(self, bucket: datetime, rows: BucketRows, event_count: int) -> None:
        """Score, explain, queue and learn the bucket starting at ``bucket``."""
        t = (bucket - EPOCH).total_seconds()
        if int(t // DAY) != self.models.housekeeping_day:
            self.models.housekeeping_day = int(t // DAY)
            self.housekeeping(t)
        norm = self.models.normalizer
        detectors = self.job.analysis_config.detectors
        scored_all: list[tuple[Detector, DetectorModels, dict[Key, float], list[Scored]]] = []
        for det, dm in zip(detectors, self.models.detectors, strict=True):
            values = dm.fill_zeros(det, rows.get(dm.detector_index, {}))
            observed, scored = dm.score_for_results(det, self.job.filters, t, values)
            scored_all.append((det, dm, values, scored))
            observe = norm.observe
            for p in observed:
                observe(p)
        top = 0.0
        influencer_best: dict[tuple[str, str], tuple[float, float]] = {}
        for det, dm, _, scored in scored_all:
            top = max(top, self._records(bucket, t, det, dm, scored, influencer_best))
            if _plots(self.job, det):
                self._queue_plots(bucket, scored)
        for det, dm, values, scored in scored_all:
            skip = {s.key for s in scored if "skip_model_update" in s.actions}
            dm.learn(det, t, values, skip)
        best = list(influencer_best.items())
        influencer_scores: list[float] = (
            norm.normalize_many([b[1][0] for b in best], [b[1][1] for b in best]).tolist()
            if best
            else []
        )
        for ((name, value), (p, conf)), score in zip(best, influencer_scores, strict=True):
            self.pending["influencers"].append(
                {
                    "job_id": self.job.job_id,
                    "timestamp": bucket,
                    "bucket_span": self.span,
                    "influencer_field_name": name,
                    "influencer_field_value": value,
                    "influencer_score": score,
                    "initial_influencer_score": score,
                    "probability": p,
                    "score_confidence": conf,
                }
            )
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
        influencer_best: dict[tuple[str, str], tuple[float, float]],
    ) -> float:
        """Queue the detector's anomalous records; returns the highest score."""
        candidates = [
            s
            for s in scored
            if s.probability < MAX_ANOMALOUS_PROBABILITY
            and "skip_result" not in s.actions
            and _on_anomalous_side(det, s)
        ]
        if not candidates:
            return 0.0
        # The same vectorised mapping renormalisation uses, so an unchanged history gives
        # record_score == initial_record_score to the last digit.
        scores = self.models.normalizer.normalize_many(
            [s.probability for s in candidates], [s.confidence for s in candidates]
        )
        keep = [(s, float(v)) for s, v in zip(candidates, scores, strict=True) if v > 0.0]
        if not keep:
            return 0.0
        explained = self._influencers(bucket, t, det, dm, [s for s, _ in keep])
        for (s, score), found in zip(keep, explained, strict=True):
            self.pending["records"].append(
                record_row(self.job.job_id, det, bucket, self.span, s, score, found)
            )
            for inf in found:
                p = influencer_probability(s.probability, inf.influence)
                key = (inf.field, inf.value)
                if key not in influencer_best or p < influencer_best[key][0]:
                    influencer_best[key] = (p, s.confidence)
            self._stats["records"] += 1
            self._stats["max_score"] = max(self._stats["max_score"], score)
        return max(score for _, score in keep)

    def _influencers(
        self, bucket: datetime, t: float, det: Detector, dm: DetectorModels, records: list[Scored]
    ) -> list[list[Influence]]:
        if not self.influencer_fields:
            return [[] for _ in records]
        feature = self.request.detectors[dm.detector_index]
        if det.spec.is_rare:
            return self._rare_influencers(bucket, feature, records)
        table = bucket_slice(self.con, self.request, feature, bucket, self.influencer_fields)
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

    def _rare_influencers(
        self, bucket: datetime, feature: DetectorFeature, records: list[Scored]
    ) -> list[list[Influence]]:
        """Influencers of ``rare`` records from per-value event counts computed in SQL (the
        influence of a value is its share of the category's events, no rescoring needed)."""
        keys = [s.key for s in records]
        rows = bucket_influencer_counts(
            self.con, self.request, feature, bucket, self.influencer_fields, keys
        )
        counts: dict[Key, list[tuple[int, str, int]]] = defaultdict(list)
        for p, by, o, f, value, n in rows:
            counts[(p, by, o)].append((f, value, n))
        return [rare_influencers(self.influencer_fields, counts.get(k, [])) for k in keys]

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
        write_buckets(self.con, self.pending.pop("buckets", []))
        write_records(self.con, self.pending.pop("records", []))
        write_influencers(self.con, self.pending.pop("influencers", []))
        write_model_plot(self.con, self.pending.pop("model_plot", []))

    def renormalize(self, end: datetime) -> None:
        """Recompute current scores of the job's results in the window ending at ``end``."""
        start = end - self.window
        norm = self.models.normalizer
        records, influencers = scored_in_window(self.con, self.job.job_id, start, end)
        record_scores: list[tuple[str, float]] = []
        if records:
            scores = norm.normalize_many([r[1] for r in records], [r[2] for r in records])
            record_scores = [(r[0], float(s)) for r, s in zip(records, scores, strict=True)]
        influencer_scores: list[tuple[datetime, str, str, float]] = []
        if influencers:
            scores = norm.normalize_many([i[3] for i in influencers], [i[4] for i in influencers])
            influencer_scores = [
                (i[0], i[1], i[2], float(s)) for i, s in zip(influencers, scores, strict=True)
            ]
        update_scores(self.con, self.job.job_id, record_scores, influencer_scores, start, end)
        self._stats["renormalizations"] += 1
