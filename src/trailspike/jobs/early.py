"""Early results: score the first part of a long bucket before the bucket ends.

Elastic's rare jobs use 60-minute buckets, and a bucket's records are final only after it ends
(plus the query delay), so an attack that starts early in an hour alerts an hour or more later.
For functions whose value can only grow while a bucket fills, a partial bucket already shows
what the full one will show, at least as strongly: a category present in the first 15 minutes
is present in the hour (``rare``), and a count or distinct count of the first minutes is at
most the hour's (``high_count``, ``high_non_zero_count``, ``high_distinct_count``). For those,
a bucket is also scored before it ends, against the models as they were before the bucket,
without learning or observing anything: counts at every ``early_results`` step inside the bucket
(``bucket + 5m``, ``+ 10m``, ...), and a rare category from the end of the minute of its first
event (its probability does not depend on the rest of the bucket, so that early record *is* the
final one, known sooner). The records go to ``early_records`` with the final record's id, so a
rule alerts on an anomaly once, at the first result that shows it.

Implementation decisions:

- Other functions get no early results: a partial bucket of ``low_*``, two-sided ``count`` or
  ``mean`` can look anomalous just because it is partial, the false positives that made Kibana
  ignore interim results (kibana#90316).
- Early results are computed both when history is processed (so a backfill of rules sees them
  at the time they would have existed) and, in a live run, for the open bucket up to the data
  known to be complete (``now`` minus ``query_delay`` and the CloudTrail delivery delay).
- They do not touch model state, so results and resumption are exactly as without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from trailspike.core.timeutil import parse_duration
from trailspike.features.contract import FeatureRequest
from trailspike.features.evidence import early_features, first_seen
from trailspike.jobs.detectors import Key
from trailspike.jobs.schema import JobConfig

EARLY_FUNCTIONS = frozenset({"rare", "high_count", "high_non_zero_count", "high_distinct_count"})
DISABLED = ("", "0", "off", "false", "no", "none")
RARE_RESOLUTION = timedelta(minutes=1)


@dataclass
class EarlyBucket:
    """What a bucket's early results are computed from.

    ``cuts``: for count-type functions, the values over the first part of the bucket, by data
    end (detector -> series -> value). ``first_seen``: for ``rare``, when each series first had an
    event and how many events it had by the end of that minute (detector -> series -> (time,
    events)); a rare category's probability does not depend on the rest of the bucket, so its
    early record is the final one, known from the end of the minute of its first event.
    ``until``: a live run knows the data only up to then.
    """

    cuts: dict[datetime, dict[int, dict[Key, float]]] = field(default_factory=dict)
    first_seen: dict[int, dict[Key, tuple[datetime, int]]] = field(default_factory=dict)
    until: datetime | None = None


def early_step(job: JobConfig, settings: Mapping[str, Any]) -> timedelta | None:
    """The step of early results for ``job``, or None when it gets none.

    >>> from trailspike.jobs.loader import load_jobs
    >>> jobs = load_jobs()
    >>> early_step(jobs.get("rare_error_code"), {"early_results": "5m"})
    datetime.timedelta(seconds=300)
    >>> early_step(jobs.get("rare_error_code"), {"early_results": "off"})
    """
    text = str(settings.get("early_results", "off")).strip().lower()
    if text in DISABLED:
        return None
    step = parse_duration(text)
    if step.total_seconds() <= 0:
        return None
    if not any(eligible(d.function) for d in job.analysis_config.detectors):
        return None
    return step


def eligible(function: str) -> bool:
    """Whether a function's partial-bucket value can only understate the full bucket's."""
    return function in EARLY_FUNCTIONS


def seen_by(first: datetime) -> datetime:
    """The data end from which an event at ``first`` is known: the end of its minute.

    >>> seen_by(datetime(2026, 1, 1, 13, 41, 31))
    datetime.datetime(2026, 1, 1, 13, 42)
    """
    minute = first.replace(second=0, microsecond=0)
    return minute + RARE_RESOLUTION


def seen_by_many(firsts: pa.Array) -> list[datetime]:
    """:func:`seen_by` of many first events (``timestamp[us]``), in array steps.

    >>> seen_by_many(pa.array([datetime(2026, 1, 1, 13, 41, 31, 5), datetime(2026, 1, 1, 13, 42)],
    ...                       pa.timestamp("us")))
    [datetime.datetime(2026, 1, 1, 13, 42), datetime.datetime(2026, 1, 1, 13, 43)]
    """
    step = int(RARE_RESOLUTION / timedelta(microseconds=1))
    micros = firsts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    ends = micros - micros % step + step  # floor to the minute, as replace() does
    # numpy's datetime64[us] gives datetimes 35 times faster than Arrow's to_pylist.
    out: list[datetime] = ends.astype("datetime64[us]").tolist()
    return out


def early_inputs(
    con: duckdb.DuckDBPyConnection,
    job: JobConfig,
    request: FeatureRequest,
    start: datetime,
    end: datetime,
    step: timedelta,
    until: datetime | None = None,
    rare: bool = True,
) -> dict[datetime, EarlyBucket]:
    """Early-result inputs of the eligible detectors for buckets in ``[start, end)``.

    ``until`` drops what a live run could not know yet (cut-offs after it). ``rare=False``
    leaves out ``first_seen`` (history runs find it for the anomalous categories only, at
    flush: :mod:`trailspike.jobs.explain`).
    """
    out: dict[datetime, EarlyBucket] = {}

    def bucket(b: datetime) -> EarlyBucket:
        return out.setdefault(b, EarlyBucket(until=until))

    for det, feature in zip(job.analysis_config.detectors, request.detectors, strict=True):
        if not eligible(det.function):
            continue
        index = feature.detector_index
        if det.spec.is_rare:
            if not rare:
                continue
            for (b, p, by, over), seen in first_seen(con, request, feature, start, end).items():
                bucket(b).first_seen.setdefault(index, {})[(p, by, over)] = seen
            continue
        table = early_features(con, request, feature, start, end, step)
        cols = table.select(["bucket_start", "data_end", "partition", "by", "over", "value"])
        for b, cut, p, by, over, v in zip(*cols.to_pydict().values(), strict=True):
            if until is None or cut <= until:
                series = bucket(b).cuts.setdefault(cut, {}).setdefault(index, {})
                series[(p, by, over)] = v
    return out
