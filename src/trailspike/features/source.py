"""Where a job's feature rows come from: DuckDB over the store, or Spark over Parquet.

The runner asks a :data:`FeatureFn` for the feature rows of each chunk of buckets; the default is
:func:`~trailspike.features.bucket_duckdb.compute_features`. :class:`SparkFeatures` computes the
same rows (tested equal, :mod:`.bucket_spark`) with Spark, for event volumes beyond one DuckDB
process: ``trailspike jobs run --engine spark``.

Implementation decisions: a Spark query has seconds of fixed cost, so :class:`SparkFeatures` runs
one query per job over all buckets from the first chunk on and serves every later chunk from that
Arrow table, instead of one query per chunk (a day). Only the aggregation moves to Spark: event
counts per bucket, influencer slices and early results of the few anomalous buckets still read
the store, so the store must hold the events the Parquet does (``jobs run --engine spark``
exports them itself unless given ``--events-parquet``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from trailspike.features.contract import FeatureRequest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FeatureFn = Callable[[duckdb.DuckDBPyConnection, FeatureRequest, datetime, datetime], pa.Table]
FAR_FUTURE = datetime(9999, 1, 1)


class SparkFeatures:
    """A :data:`FeatureFn` backed by Spark over events in Parquet."""

    def __init__(self, spark: SparkSession, parquet: Path) -> None:
        self.spark = spark
        self.parquet = parquet
        self.queries = 0  # Spark queries run (one per job, unless a job restarts earlier)
        self._cached: tuple[str, datetime, pa.Table] | None = None

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        request: FeatureRequest,
        start: datetime,
        end: datetime,
    ) -> pa.Table:
        """Feature rows of ``request`` for buckets in ``[start, end)``."""
        from trailspike.features.bucket_spark import compute_features_spark

        cached = self._cached
        if cached is None or cached[0] != request.job_id or start < cached[1]:
            table = compute_features_spark(self.spark, self.parquet, request, start, FAR_FUTURE)
            self.queries += 1
            cached = self._cached = (request.job_id, start, table)
        table = cached[2]
        stamps = table["bucket_start"]
        keep = pc.and_(
            pc.greater_equal(stamps, pa.scalar(start, pa.timestamp("us"))),
            pc.less(stamps, pa.scalar(end, pa.timestamp("us"))),
        )
        return table.filter(keep)


def spark_features(
    con: duckdb.DuckDBPyConnection, workdir: Path, parquet: Path | None = None, cores: int = 2
) -> SparkFeatures:
    """A local Spark session over ``parquet``, or over the store's events exported into
    ``workdir`` when no Parquet is given."""
    from trailspike.features.bucket_spark import export_events, local_session

    source = parquet if parquet is not None else export_events(con, workdir / "events.parquet")
    return SparkFeatures(local_session(cores=cores), source)
