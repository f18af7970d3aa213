"""Result rows in Elastic's shape, built from scored series (pure functions, no I/O).

:func:`record_row` turns one anomalous :class:`~trailspike.jobs.detectors.Scored` into a row of
the ``records`` table; :func:`influencer_rows` turns the influencers found for a bucket's
records into rows of ``influencers``; :func:`model_plot_row` gives the 95 % bounds row.
:func:`on_anomalous_side`, :func:`plots` and :func:`plot_terms` decide which results get rows.

Implementation decisions: an influencer value that explains several records of one bucket gets
one influencer result, with the lowest of its probabilities. Its probability is the record's
raised to the power ``influence`` (``p ** influence``), so a value that fully explains the
anomaly is as improbable as the record and a weaker one less so; its score is the job
normaliser's score of that probability, renormalised like records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from trailspike.jobs.detectors import Scored
from trailspike.jobs.influence import Influence
from trailspike.jobs.schema import Detector, JobConfig
from trailspike.store.results import record_id


def _value_or_none(field: str | None, value: str) -> str | None:
    return value if field else None


def explanation(scored: Scored) -> dict[str, Any]:
    """Elastic's ``anomaly_score_explanation`` (the parts trailspike computes)."""
    out: dict[str, Any] = {"model_confidence": round(scored.confidence, 6)}
    if scored.typical is not None:
        out["anomaly_type"] = "spike" if scored.actual >= scored.typical else "dip"
        out["typical_value"] = scored.typical
        out["lower_confidence_bound"] = scored.lower
        out["upper_confidence_bound"] = scored.upper
    if scored.multi_bucket_impact is not None:
        out["multi_bucket_impact"] = scored.multi_bucket_impact
        out["single_bucket_probability"] = scored.single_bucket_probability
        out["multi_bucket_probability"] = scored.multi_bucket_probability
    return out


def explanation_json(scored: Scored) -> str:
    """``json.dumps(explanation(scored))``, written directly for the common ``rare`` case (a
    confidence only), which the rare jobs produce tens of thousands of times a day.

    >>> explanation_json(Scored(0, ("", "A", ""), 1.0, 1e-5, 0.5))
    '{"model_confidence": 0.5}'
    """
    confidence = round(scored.confidence, 6)
    if scored.typical is None and scored.multi_bucket_impact is None and math.isfinite(confidence):
        return '{"model_confidence": ' + repr(confidence) + "}"
    return json.dumps(explanation(scored))


def influencers_json(found: list[Influence]) -> str | None:
    """The record's ``influencers`` list: field → values, most influential first.

    The text of ``json.dumps`` of that list (default separators, ASCII escapes), built with
    json's own string encoder: the same text at a fifth of the cost.

    >>> print(influencers_json([Influence("user.name", "böb", 0.5)]))
    [{"influencer_field_name": "user.name", "influencer_field_values": ["b\\u00f6b"]}]
    """
    if not found:
        return None
    grouped: dict[str, list[str]] = {}
    for inf in found:
        grouped.setdefault(inf.field, []).append(inf.value)
    quote = encode_basestring_ascii
    return (
        "["
        + ", ".join(
            '{"influencer_field_name": ' + quote(name) + ', "influencer_field_values": ['
            + ", ".join(map(quote, values)) + "]}"
            for name, values in grouped.items()
        )
        + "]"
    )  # fmt: skip


def record_row(
    job_id: str,
    det: Detector,
    bucket: datetime,
    span: int,
    scored: Scored,
    score: float,
    found: list[Influence],
) -> dict[str, Any]:
    """One ``records`` row (``record_score`` = ``initial_record_score`` when written)."""
    partition, by, over = scored.key
    return {
        "record_id": record_id(job_id, bucket, span, scored.detector_index, partition, by, over),
        "job_id": job_id,
        "timestamp": bucket,
        "bucket_span": span,
        "detector_index": scored.detector_index,
        "function": det.function,
        "function_description": det.spec.description,
        "field_name": det.field_name,
        "by_field_name": det.by_field_name,
        "by_field_value": _value_or_none(det.by_field_name, by),
        "over_field_name": det.over_field_name,
        "over_field_value": _value_or_none(det.over_field_name, over),
        "partition_field_name": det.partition_field_name,
        "partition_field_value": _value_or_none(det.partition_field_name, partition),
        "probability": scored.probability,
        "record_score": score,
        "initial_record_score": score,
        "typical": scored.typical,
        "actual": scored.actual,
        "multi_bucket_impact": scored.multi_bucket_impact,
        "influencers": influencers_json(found),
        "explanation": explanation_json(scored),
        "score_confidence": scored.confidence,
    }


def record_columns(
    job_id: str,
    span: int,
    buckets: Sequence[datetime],
    dets: Sequence[Detector],
    scored: Sequence[Scored],
    scores: Sequence[float],
    found: Sequence[list[Influence]],
) -> dict[str, list[Any]]:
    """The rows of :func:`record_row` for many records, as columns (one list per column,
    each built in one pass: the rare jobs write hundreds of thousands of records)."""
    n = len(scored)
    keys = [s.key for s in scored]
    index = [s.detector_index for s in scored]
    pairs = list(zip(dets, keys, strict=True))
    return {
        "record_id": [
            record_id(job_id, b, span, i, *k) for b, i, k in zip(buckets, index, keys, strict=True)
        ],
        "job_id": [job_id] * n,
        "timestamp": list(buckets),
        "bucket_span": [span] * n,
        "detector_index": index,
        "function": [d.function for d in dets],
        "function_description": [d.spec.description for d in dets],
        "field_name": [d.field_name for d in dets],
        "by_field_name": [d.by_field_name for d in dets],
        "by_field_value": [k[1] if d.by_field_name else None for d, k in pairs],
        "over_field_name": [d.over_field_name for d in dets],
        "over_field_value": [k[2] if d.over_field_name else None for d, k in pairs],
        "partition_field_name": [d.partition_field_name for d in dets],
        "partition_field_value": [k[0] if d.partition_field_name else None for d, k in pairs],
        "probability": [s.probability for s in scored],
        "record_score": list(scores),
        "initial_record_score": list(scores),
        "typical": [s.typical for s in scored],
        "actual": [s.actual for s in scored],
        "multi_bucket_impact": [s.multi_bucket_impact for s in scored],
        "influencers": [influencers_json(f) for f in found],
        "explanation": [explanation_json(s) for s in scored],
        "score_confidence": [s.confidence for s in scored],
    }


def influencer_probability(record_probability: float, influence: float) -> float:
    """Probability of an influencer result: the record's, weakened by partial influence.

    >>> influencer_probability(1e-6, 1.0), influencer_probability(1e-6, 0.5)
    (1e-06, 0.001)
    """
    return float(record_probability**influence)


def model_plot_row(job_id: str, bucket: datetime, scored: Scored) -> dict[str, Any]:
    """One ``model_plot`` row: the model's 95 % bounds and median, and the actual value."""
    return {
        "job_id": job_id,
        "timestamp": bucket,
        "detector_index": scored.detector_index,
        "partition_field_value": scored.key[0],
        "by_field_value": scored.key[1],
        "model_lower": scored.lower,
        "model_median": scored.typical,
        "model_upper": scored.upper,
        "actual": scored.actual,
    }


def on_anomalous_side(det: Detector, scored: Scored) -> bool:
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


def plots(job: JobConfig, det: Detector) -> bool:
    if det.spec.is_rare:
        return False
    config = job.model_plot_config
    if config is not None and config.enabled:
        return True
    return not (det.by_field_name or det.over_field_name or det.partition_field_name)


def plot_terms(job: JobConfig) -> set[str] | None:
    config = job.model_plot_config
    if config is None or not config.enabled or not config.terms:
        return None
    return {t.strip() for t in config.terms.split(",") if t.strip()}
