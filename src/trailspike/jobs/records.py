"""Result rows in Elastic's shape, built from scored series (pure functions, no I/O).

:func:`record_row` turns one anomalous :class:`~trailspike.jobs.detectors.Scored` into a row of
the ``records`` table, and :func:`record_columns` many of them into columns, built in array steps
(:func:`influencers_column`, :func:`record_ids`, :func:`explanation_column`: the rare jobs write
hundreds of thousands of records); :func:`model_plot_row` gives the 95 % bounds row.
:func:`on_anomalous_side`, :func:`plots` and :func:`plot_terms` decide which results get rows.

Implementation decisions: an influencer value that explains several records of one bucket gets
one influencer result, with the lowest of its probabilities. Its probability is the record's
raised to the power ``influence`` (``p ** influence``), so a value that fully explains the
anomaly is as improbable as the record and a weaker one less so; its score is the job
normaliser's score of that probability, renormalised like records.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from trailspike.jobs.detectors import Key, Scored
from trailspike.jobs.influence import Influence
from trailspike.jobs.schema import Detector, JobConfig
from trailspike.jobs.shares import InfluenceColumns
from trailspike.store.results import DIGEST_LENGTH, record_id, series_digest


def _value_or_none(field: str | None, value: str) -> str | None:
    return value if field else None


def explanation(scored: Scored) -> dict[str, Any]:
    """Elastic's ``anomaly_score_explanation`` (the parts trailspike computes)."""
    out: dict[str, Any] = {"model_confidence": round(scored.confidence, 6)}
    if scored.typical is not None:
        out["anomaly_type"] = "spike" if scored.actual >= scored.typical else "dip"
        if _stuck(scored):
            out["anomaly_type"] = "repeated_value"
        out["typical_value"] = scored.typical
        out["lower_confidence_bound"] = scored.lower
        out["upper_confidence_bound"] = scored.upper
    if scored.multi_bucket_impact is not None:
        out["multi_bucket_impact"] = scored.multi_bucket_impact
        out["single_bucket_probability"] = scored.single_bucket_probability
        out["multi_bucket_probability"] = scored.multi_bucket_probability
    if scored.repeated_buckets:  # the value repeats the last buckets exactly
        out["repeated_value"] = {
            "buckets": scored.repeated_buckets,
            "probability": scored.repeat_probability,
        }
    if scored.novelty is not None:  # a rare category new to its partition, in a burst of them
        out["novelty_burst"] = {
            "new_categories": scored.novelty.count,
            "burst_probability": scored.novelty.burst,
            "own_probability": scored.novelty.alone,
        }
    return out


def _stuck(scored: Scored) -> bool:
    """Whether the exact repeat, not the value's size, is what made the bucket anomalous."""
    single = scored.single_bucket_probability
    return (
        bool(scored.repeated_buckets)
        and single is not None
        and (scored.repeat_probability <= single)
    )


def _confidence_only(scored: Scored) -> bool:
    """Whether the record's explanation is its model confidence alone (most rare records)."""
    return scored.typical is None and scored.multi_bucket_impact is None and scored.novelty is None


def explanation_json(scored: Scored) -> str:
    """``json.dumps(explanation(scored))``, written directly for the common ``rare`` case (a
    confidence only), which the rare jobs produce tens of thousands of times a day.

    >>> explanation_json(Scored(0, ("", "A", ""), 1.0, 1e-5, 0.5))
    '{"model_confidence": 0.5}'
    """
    confidence = round(scored.confidence, 6)
    if _confidence_only(scored) and math.isfinite(confidence):
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
    found: Sequence[list[Influence]] | InfluenceColumns,
) -> dict[str, Any]:
    """The rows of :func:`record_row` for many records, as columns (``found``: each record's
    influences, as lists or already flat).

    Each column is a list or an Arrow array (``influencers``) of the same values
    :func:`record_row` gives, built in array steps where a Python call per row would dominate:
    the rare jobs write hundreds of thousands of records (see :func:`influencers_column`,
    :func:`record_ids`, :func:`explanation_column`).
    """
    n = len(scored)
    keys = [s.key for s in scored]
    parts, bys, overs = _transpose(keys)
    index = [s.detector_index for s in scored]
    same = _single(dets)
    return {
        "record_id": record_ids(job_id, span, buckets, index, keys),
        "job_id": [job_id] * n,
        "timestamp": list(buckets),
        "bucket_span": [span] * n,
        "detector_index": index,
        "function": _detector_column(dets, same, n, lambda d: d.function),
        "function_description": _detector_column(dets, same, n, lambda d: d.spec.description),
        "field_name": _detector_column(dets, same, n, lambda d: d.field_name),
        "by_field_name": _detector_column(dets, same, n, lambda d: d.by_field_name),
        "by_field_value": _split_values(dets, same, bys, lambda d: d.by_field_name),
        "over_field_name": _detector_column(dets, same, n, lambda d: d.over_field_name),
        "over_field_value": _split_values(dets, same, overs, lambda d: d.over_field_name),
        "partition_field_name": _detector_column(dets, same, n, lambda d: d.partition_field_name),
        "partition_field_value": _split_values(dets, same, parts, lambda d: d.partition_field_name),
        "probability": [s.probability for s in scored],
        "record_score": list(scores),
        "initial_record_score": list(scores),
        "typical": [s.typical for s in scored],
        "actual": [s.actual for s in scored],
        "multi_bucket_impact": [s.multi_bucket_impact for s in scored],
        "influencers": influencers_column(found),
        "explanation": explanation_column(scored),
        "score_confidence": [s.confidence for s in scored],
    }


def _transpose(keys: list[Key]) -> tuple[list[str], list[str], list[str]]:
    # Not zip(*keys): unpacking a hundred thousand arguments costs more than three passes.
    return [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]


def _single(dets: Sequence[Detector]) -> Detector | None:
    """The detector of every record when they share one (jobs have one detector, mostly)."""
    if not dets:
        return None
    first = dets[0]
    return first if all(d is first for d in dets) else None


def _detector_column(
    dets: Sequence[Detector], same: Detector | None, n: int, attr: Callable[[Detector], Any]
) -> list[Any]:
    return [attr(same)] * n if same is not None else [attr(d) for d in dets]


def _split_values(
    dets: Sequence[Detector],
    same: Detector | None,
    values: Sequence[str | None],
    name: Callable[[Detector], str | None],
) -> list[str | None]:
    """A split field's values where the detector has that field, else null."""
    if same is not None:
        return list(values) if name(same) else [None] * len(values)
    return [v if name(d) else None for d, v in zip(dets, values, strict=True)]


def record_ids(
    job_id: str,
    span: int,
    buckets: Sequence[datetime],
    index: Sequence[int],
    keys: Sequence[Key],
) -> list[str]:
    """:func:`~trailspike.store.results.record_id` of many records: the id's head is built once
    per bucket and detector.

    >>> b = datetime(2026, 1, 1)
    >>> record_ids("j", 900, [b, b], [0, 0], [("u", "A", ""), ("u", "A", "")]) == [
    ...     record_id("j", b, 900, 0, "u", "A", "")] * 2
    True
    """
    heads: dict[tuple[datetime, int], str] = {}
    out = []
    for bucket, i, key in zip(buckets, index, keys, strict=True):
        head = heads.get((bucket, i))
        if head is None:
            head = heads[(bucket, i)] = record_id(job_id, bucket, span, i)[:-DIGEST_LENGTH]
        out.append(head + _digest(key))
    return out


@functools.lru_cache(maxsize=1 << 16)
def _digest(key: Key) -> str:
    """:func:`series_digest` of ``key``, remembered: the user job's 183,000 final and early
    records over 21 days name 27,000 series (an early record shares its final one's id)."""
    return series_digest(*key)


def explanation_column(scored: Sequence[Scored]) -> list[str]:
    """:func:`explanation_json` of many records, the text of each distinct confidence of the
    common ``rare`` case made once."""
    texts: dict[float, str] = {}
    out = []
    for s in scored:
        if _confidence_only(s):
            text = texts.get(s.confidence)
            if text is None:
                text = texts[s.confidence] = explanation_json(s)
            out.append(text)
        else:
            out.append(explanation_json(s))
    return out


_HEAD = '{"influencer_field_name": '
_MIDDLE = ', "influencer_field_values": ['
_TAIL = "]}"


def influencers_column(found: Sequence[list[Influence]] | InfluenceColumns) -> pa.Array:
    """:func:`influencers_json` of many records, as an Arrow string array.

    Each influence becomes its ``{"influencer_field_name": …, "influencer_field_values": [v]}``
    text and a record's texts are joined, all in Arrow kernels; each distinct value and field is
    quoted once. A record naming one field twice (two values sharing a field's events) needs
    its values grouped under the field's first mention: those few are built by
    :func:`influencers_json`.

    >>> found = [[Influence("user.name", "bob", 1.0)], [], [Influence("source.ip", "a", 0.5),
    ...          Influence("user.name", "b", 1.0), Influence("source.ip", "c", 0.5)]]
    >>> influencers_column(found).to_pylist() == [influencers_json(f) for f in found]
    True
    """
    cols = found if isinstance(found, InfluenceColumns) else InfluenceColumns.from_lists(found)
    lengths = cols.lengths
    if not len(cols.values):
        return pa.nulls(len(lengths), pa.string())
    field_text = pa.array(list(map(encode_basestring_ascii, cols.fields)), pa.string())
    value_codes, value_text = _quoted_codes(cols.values)
    pieces = pc.binary_join_element_wise(
        _HEAD, field_text.take(cols.field_codes), _MIDDLE, value_text.take(value_codes), _TAIL, ""
    )
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), pieces), ", ")
    texts = pc.binary_join_element_wise("[", joined, "]", "")
    texts = pc.if_else(pa.array(lengths == 0), pa.scalar(None, pa.string()), texts)
    repeated = _records_naming_a_field_twice(cols.field_codes, lengths)
    if not repeated.size:
        return texts
    # Only those records' texts are built in Python and put in place with one take: a list
    # of every record's text and back was half of this function's CPU.
    bounds = offsets.tolist()
    fixed = [influencers_json(cols.rows(bounds[n], bounds[n + 1])) for n in repeated.tolist()]
    place = np.arange(len(lengths), dtype=np.int64)
    place[repeated] = len(lengths) + np.arange(len(fixed), dtype=np.int64)
    return pa.concat_arrays([texts, pa.array(fixed, pa.string())]).take(pa.array(place))


def _quoted_codes(texts: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Codes of ``texts`` into their distinct values, and those values JSON-quoted (json's own
    ASCII string encoder, as :func:`influencers_json`)."""
    encoded = texts.dictionary_encode()
    quoted = pa.array(list(map(encode_basestring_ascii, encoded.dictionary.to_pylist())))
    return encoded.indices, quoted


def _records_naming_a_field_twice(
    codes: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Record numbers whose influences name some field more than once."""
    record = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    width = int(codes.max()) + 1
    pairs, counts = np.unique(record * width + codes, return_counts=True)
    twice: npt.NDArray[np.int64] = np.unique(pairs[counts > 1] // width)
    return twice


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
