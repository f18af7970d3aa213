"""The one output contract of feature computation, shared by the DuckDB and Spark paths.

A feature row is ``(job_id, detector_index, bucket_start, partition, by, over, value)``: the
per-bucket aggregate of one detector for one series. Both :mod:`.bucket_duckdb` and
:mod:`.bucket_spark` return an Arrow table with exactly :data:`FEATURE_SCHEMA`, sorted by
:data:`SORT_KEYS`, so they can be compared row for row.

Implementation decisions: a field a detector does not split on is the empty string, not null,
so series keys compare equal in Python, Arrow and Spark alike. Events whose split field is
missing are left out (Elastic's ``use_null: false``) unless the detector sets ``use_null``, in
which case the missing value is the empty string too. Rows exist only for buckets with data:
zero-filling the count family is the runner's job, because only it knows the series history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from trailspike.features.functions import FUNCTIONS, FunctionSpec
from trailspike.features.query import Clause

FEATURE_SCHEMA = pa.schema(
    [
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("detector_index", pa.int32(), nullable=False),
        pa.field("bucket_start", pa.timestamp("us"), nullable=False),
        pa.field("partition", pa.string(), nullable=False),
        pa.field("by", pa.string(), nullable=False),
        pa.field("over", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)
SORT_KEYS = ("detector_index", "bucket_start", "partition", "by", "over")


@dataclass(frozen=True)
class DetectorFeature:
    """What to aggregate for one detector (a neutral copy of the job's detector)."""

    detector_index: int
    function: str
    field_name: str | None = None
    by_field_name: str | None = None
    over_field_name: str | None = None
    partition_field_name: str | None = None
    use_null: bool = False
    wording: bool = False  # the field is read by its wording (:mod:`.wording`)

    @property
    def spec(self) -> FunctionSpec:
        return FUNCTIONS[self.function]

    def split_fields(self) -> tuple[str | None, str | None, str | None]:
        """The (partition, by, over) fields, None where the detector does not split."""
        return self.partition_field_name, self.by_field_name, self.over_field_name


@dataclass(frozen=True)
class FeatureRequest:
    """Everything feature computation needs to know about a job."""

    job_id: str
    bucket_span_seconds: int
    detectors: tuple[DetectorFeature, ...]
    where: Clause | None = None


def feature_request(job: Any) -> FeatureRequest:
    """Build the request for a :class:`trailspike.jobs.schema.JobConfig` (duck-typed here so
    ``features`` does not depend on ``jobs``)."""
    detectors = tuple(
        DetectorFeature(
            detector_index=i,
            function=d.function,
            field_name=d.field_name,
            by_field_name=d.by_field_name,
            over_field_name=d.over_field_name,
            partition_field_name=d.partition_field_name,
            use_null=d.use_null,
            wording=d.field_name is not None and d.field_name in job.wording_fields,
        )
        for i, d in enumerate(job.analysis_config.detectors)
    )
    return FeatureRequest(job.job_id, job.bucket_span_seconds, detectors, job.datafeed.clause())


def empty_features() -> pa.Table:
    """A feature table with no rows."""
    return FEATURE_SCHEMA.empty_table()
