"""Per-bucket feature rows with pyspark, for stores too large for one DuckDB process.

The same contract as :mod:`.bucket_duckdb` (:data:`~.contract.FEATURE_SCHEMA`, sorted by
:data:`~.contract.SORT_KEYS`), computed by Spark over the ``events`` table exported to Parquet
(:func:`export_events`). :func:`compute_features_spark` takes the same
:class:`~.contract.FeatureRequest`, so a job runs on either engine and their rows can be
compared one for one.

Implementation decisions: the Parquet files are read with an explicit schema (inference costs a
whole extra pass, LIBRARY_NOTES) and timestamps as ``TIMESTAMP_NTZ`` (trailspike's times are
naive UTC). Buckets are computed as epoch seconds inside Spark and turned into timestamps in
Arrow, so no session time zone can shift them. The datafeed query is compiled to Spark
``Column`` expressions with literal values (never SQL text), and ECS fields outside the typed
columns are read with ``get_json_object`` on the stored document. pyspark is an optional extra:
it is imported only by this module.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from trailspike.core.timeutil import parse_time
from trailspike.features.contract import (
    FEATURE_SCHEMA,
    SORT_KEYS,
    DetectorFeature,
    FeatureRequest,
    empty_features,
)
from trailspike.features.query import TABLE_CONSTANTS, Bool, Clause, Exists, Range, Term
from trailspike.features.wording import wording_column
from trailspike.normalise.ecs_fields import EVENT_COLUMNS, TIMESTAMP

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

_NUMERIC_COLUMNS = {"source_as_number": "long"}


def export_events(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Write the ``events`` table to one Parquet file at ``path`` (Spark's input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = con.sql("SELECT * FROM events").to_arrow_table()
    import pyarrow.parquet as pq

    pq.write_table(table, str(path))
    return path


def events_schema() -> Any:
    """The explicit Spark schema of the exported ``events`` table."""
    from pyspark.sql import types as T

    fields = [
        T.StructField(
            column,
            T.TimestampNTZType()
            if column == "ts"
            else T.LongType()
            if column in _NUMERIC_COLUMNS
            else T.StringType(),
        )
        for column in EVENT_COLUMNS.values()
    ]
    fields.append(T.StructField("doc", T.StringType()))
    return T.StructType(fields)


def local_session(app: str = "trailspike", cores: int = 2) -> SparkSession:
    """A local-mode Spark session in UTC with a small driver."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(cores * 2))
        .getOrCreate()
    )


def _spark_json_path(field: str) -> str:
    parts = field.split(".")
    if any("'" in p or "]" in p for p in parts):
        raise ValueError(f"field {field!r} cannot be read from the JSON document")
    return "$" + "".join(f"['{p}']" for p in parts)


def field_column(field: str) -> Column:
    """The Spark column of ECS ``field`` (typed column, constant, or JSON document)."""
    from pyspark.sql import functions as F

    column = EVENT_COLUMNS.get(field)
    if column is not None:
        return F.col(column)
    if field in TABLE_CONSTANTS:
        return F.lit(TABLE_CONSTANTS[field])
    return F.get_json_object(F.col("doc"), _spark_json_path(field))


def _measured_column(det: DetectorFeature) -> Column:
    """The value a detector aggregates: its field, by its wording when the job says so."""
    assert det.field_name is not None
    column = field_column(det.field_name)
    return wording_column(column.cast("string")) if det.wording else column


def clause_column(clause: Clause | None) -> Column:
    """A parsed datafeed query as a boolean Spark column."""
    from pyspark.sql import functions as F

    if clause is None:
        return F.lit(True)
    if isinstance(clause, Term):
        if clause.field in TABLE_CONSTANTS:
            return F.lit(TABLE_CONSTANTS[clause.field] in [str(v) for v in clause.values])
        return field_column(clause.field).cast("string").isin([str(v) for v in clause.values])
    if isinstance(clause, Exists):
        if clause.field in TABLE_CONSTANTS:
            return F.lit(True)
        return field_column(clause.field).isNotNull()
    if isinstance(clause, Range):
        return _range_column(clause)
    return _bool_column(clause)


def _range_column(clause: Range) -> Column:
    from pyspark.sql import functions as F

    col = field_column(clause.field)
    out = F.lit(True)
    for op, value in clause.bounds:
        bound = (
            F.lit(parse_time(value)).cast("timestamp_ntz")
            if clause.field == TIMESTAMP and isinstance(value, str)
            else F.lit(value)
        )
        test = {"gt": col > bound, "gte": col >= bound, "lt": col < bound, "lte": col <= bound}
        out = out & test[op]
    return out


def _bool_column(clause: Bool) -> Column:
    from pyspark.sql import functions as F

    out = F.lit(True)
    for sub in clause.must:
        out = out & clause_column(sub)
    for sub in clause.must_not:
        out = out & ~F.coalesce(clause_column(sub), F.lit(False))
    if clause.should:
        any_of = F.lit(False)
        for sub in clause.should:
            any_of = any_of | F.coalesce(clause_column(sub), F.lit(False))
        out = out & any_of
    return out


def _detector_rows(
    events: DataFrame, request: FeatureRequest, det: DetectorFeature, start: datetime, end: datetime
) -> pa.Table:
    from pyspark.sql import functions as F

    span = request.bucket_span_seconds
    rows = events.where(
        (F.col("ts") >= F.lit(start).cast("timestamp_ntz"))
        & (F.col("ts") < F.lit(end).cast("timestamp_ntz"))
        & F.coalesce(clause_column(request.where), F.lit(False))
    )
    if det.field_name:
        rows = rows.where(field_column(det.field_name).isNotNull())
    splits = []
    for name, field in zip(("partition", "by", "over"), det.split_fields(), strict=True):
        if field is None:
            splits.append(F.lit("").alias(name))
            continue
        value = field_column(field).cast("string")
        if det.use_null:
            value = F.coalesce(value, F.lit(""))
        else:
            rows = rows.where(value.isNotNull())
        splits.append(value.alias(name))
    epoch = F.unix_timestamp(F.col("ts").cast("timestamp"))
    bucket = (F.floor(epoch / span) * span).cast("long").alias("bucket_epoch")
    measured = [_measured_column(det).alias("_f")] if det.field_name else []
    grouped = rows.select(bucket, *splits, *measured)
    value = _aggregate_on(det, grouped)
    out = (
        grouped.groupBy("bucket_epoch", "partition", "by", "over")
        .agg(value.alias("value"))
        .where(F.col("value").isNotNull())
    )
    table = out.toArrow()
    seconds = pc.multiply(table["bucket_epoch"].cast(pa.int64()), 1_000_000)
    return pa.table(
        {
            "job_id": pa.array([request.job_id] * table.num_rows, pa.string()),
            "detector_index": pa.array([det.detector_index] * table.num_rows, pa.int32()),
            "bucket_start": seconds.cast(pa.timestamp("us")),
            "partition": table["partition"],
            "by": table["by"],
            "over": table["over"],
            "value": table["value"].cast(pa.float64()),
        }
    ).cast(FEATURE_SCHEMA)


def _aggregate_on(det: DetectorFeature, grouped: DataFrame) -> Column:
    """The detector's aggregate over the projected ``_f`` column."""
    from pyspark.sql import functions as F

    kind = det.spec.aggregate
    if kind in ("count", "rare"):
        return F.count(F.lit(1)).cast("double")
    field = F.col("_f")
    if kind == "distinct":
        return F.countDistinct(field.cast("string")).cast("double")
    funcs = {"mean": F.avg, "sum": F.sum, "min": F.min, "max": F.max}
    return funcs[kind](field.cast("double")).cast("double")


def compute_features_spark(
    spark: SparkSession,
    parquet: Path,
    request: FeatureRequest,
    start: datetime,
    end: datetime,
) -> pa.Table:
    """Feature rows of every detector of ``request`` for buckets in ``[start, end)``, by Spark,
    over events exported with :func:`export_events`."""
    events = spark.read.schema(events_schema()).parquet(str(parquet))
    tables = [_detector_rows(events, request, det, start, end) for det in request.detectors]
    if not tables:
        return empty_features()
    table = pa.concat_tables(tables)
    return table.sort_by([(key, "ascending") for key in SORT_KEYS])
