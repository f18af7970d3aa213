"""Anomaly records as the rules engine sees them: read from ``records``, shaped like Elastic's.

:func:`fetch_records` is the executor's query (Kibana ``buildAnomalyQuery``): final record results
of the rule's jobs whose bucket timestamp lies in ``[start, end]`` with
``record_score >= threshold``, highest score first, at most ``size``.
:meth:`AnomalyRecord.ecs_doc` is Kibana's ``transformAnomalyFieldsToEcs``: the whole record
plus each influencer (and the by-field) set as a nested ECS field with an array of values, and
``@timestamp`` = bucket start.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import duckdb

from trailspike.store.results import RECORD_COLUMNS as STORED_RECORD_COLUMNS

# The record fields an anomaly carries: the stored columns less the store's own bookkeeping.
RECORD_COLUMNS = tuple(
    column for column in STORED_RECORD_COLUMNS if column not in ("created_at", "score_confidence")
)


@dataclass(frozen=True)
class AnomalyRecord:
    """One row of ``records`` with its influencers decoded."""

    record_id: str
    job_id: str
    timestamp: datetime
    bucket_span: int
    detector_index: int
    function: str
    function_description: str
    field_name: str | None
    by_field_name: str | None
    by_field_value: str | None
    over_field_name: str | None
    over_field_value: str | None
    partition_field_name: str | None
    partition_field_value: str | None
    probability: float
    record_score: float
    initial_record_score: float
    typical: float | None
    actual: float | None
    multi_bucket_impact: float | None
    influencers: list[dict[str, Any]] = field(default_factory=list)
    explanation: dict[str, Any] | None = None
    is_interim: bool = False
    data_end: datetime | None = None  # an early result's data end; None for a final record

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AnomalyRecord:
        """From :data:`RECORD_COLUMNS` values, plus ``data_end`` for an early record."""
        columns = (
            RECORD_COLUMNS if len(row) == len(RECORD_COLUMNS) else (*RECORD_COLUMNS, "data_end")
        )
        values = dict(zip(columns, row, strict=True))
        values["influencers"] = _json_list(values["influencers"])
        explanation = values["explanation"]
        values["explanation"] = json.loads(explanation) if explanation else None
        return cls(**values)

    @property
    def bucket_end(self) -> datetime:
        return self.timestamp + timedelta(seconds=self.bucket_span)

    @property
    def seen_until(self) -> datetime:
        """The end of the data this record rests on: its data end if early, else bucket end."""
        return self.data_end or self.bucket_end

    def entity_fields(self) -> dict[str, str]:
        """The by/over/partition field names mapped to this record's values."""
        pairs = (
            (self.partition_field_name, self.partition_field_value),
            (self.over_field_name, self.over_field_value),
            (self.by_field_name, self.by_field_value),
        )
        return {name: value for name, value in pairs if name and value is not None}

    def influencer_values(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for inf in self.influencers:
            name = str(inf.get("influencer_field_name", ""))
            vals = inf.get("influencer_field_values") or []
            if name:
                out.setdefault(name, []).extend(str(v) for v in vals)
        return out

    def fields(self) -> dict[str, list[Any]]:
        """Flat field → values view used by exceptions and suppression."""
        flat: dict[str, list[Any]] = {
            name: [getattr(self, name)]
            for name in RECORD_COLUMNS
            if name not in ("influencers", "explanation") and getattr(self, name) is not None
        }
        for name, values in self.influencer_values().items():
            flat[name] = list(values)
        for name, value in self.entity_fields().items():
            flat.setdefault(name, [])
            if value not in flat[name]:
                flat[name].append(value)
        return flat

    def record_doc(self) -> dict[str, Any]:
        """The record as Elastic stores it in ``.ml-anomalies-*`` (field names and shapes)."""
        doc: dict[str, Any] = {
            "job_id": self.job_id,
            "result_type": "record",
            "probability": self.probability,
            "multi_bucket_impact": self.multi_bucket_impact,
            "record_score": self.record_score,
            "initial_record_score": self.initial_record_score,
            "bucket_span": self.bucket_span,
            "detector_index": self.detector_index,
            "is_interim": self.is_interim,
            "timestamp": epoch_ms(self.timestamp),
            "function": self.function,
            "function_description": self.function_description,
        }
        for name in (
            "field_name",
            "by_field_name",
            "by_field_value",
            "over_field_name",
            "over_field_value",
            "partition_field_name",
            "partition_field_value",
        ):
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        if self.typical is not None:
            doc["typical"] = [self.typical]
        if self.actual is not None:
            doc["actual"] = [self.actual]
        if self.influencers:
            doc["influencers"] = self.influencers
        if self.explanation:
            doc["anomaly_score_explanation"] = self.explanation
        return doc

    def ecs_doc(self) -> dict[str, Any]:
        """The record with influencers as nested ECS fields (``transformAnomalyFieldsToEcs``)."""
        doc = self.record_doc()
        errant = dict(self.influencer_values())
        if self.by_field_name and self.by_field_value is not None:
            errant[self.by_field_name] = [self.by_field_value]
        for name, values in errant.items():
            doc.pop(name, None)
            set_nested(doc, name, values)
        doc["@timestamp"] = iso(self.timestamp)
        return doc


def _json_list(text: Any) -> list[dict[str, Any]]:
    if not text:
        return []
    parsed = json.loads(text) if isinstance(text, str) else text
    return [dict(item) for item in parsed if isinstance(item, dict)]


def epoch_ms(ts: datetime) -> int:
    """Milliseconds since the Unix epoch of a naive UTC time.

    >>> epoch_ms(datetime(1970, 1, 1, 0, 0, 1))
    1000
    """
    return int((ts - datetime(1970, 1, 1)).total_seconds() * 1000)


def iso(ts: datetime) -> str:
    """ISO-8601 with milliseconds and ``Z``, as Elasticsearch prints dates.

    >>> iso(datetime(2026, 1, 2, 3, 4, 5))
    '2026-01-02T03:04:05.000Z'
    """
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def set_nested(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict (lodash ``set``); a scalar in the way is replaced.

    >>> d = {}; set_nested(d, "source.ip", ["1.2.3.4"]); d
    {'source': {'ip': ['1.2.3.4']}}
    """
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def fetch_records(
    con: duckdb.DuckDBPyConnection,
    job_ids: Sequence[str],
    start: datetime,
    end: datetime,
    threshold: float,
    size: int,
) -> tuple[list[AnomalyRecord], int]:
    """Final records of ``job_ids`` in ``[start, end]`` scoring ``>= threshold``, best first.

    Returns the top ``size`` records and how many matched in total (for the max-signals warning).
    """
    if not job_ids:
        return [], 0
    marks = ", ".join("?" for _ in job_ids)
    where = (
        f"job_id IN ({marks}) AND NOT is_interim AND timestamp >= ? AND timestamp <= ? "
        "AND record_score >= ?"
    )
    params: list[Any] = [*job_ids, start, end, threshold]
    total_row = con.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()  # noqa: S608
    rows = con.execute(
        f"SELECT {', '.join(RECORD_COLUMNS)} FROM records WHERE {where} "  # noqa: S608
        "ORDER BY record_score DESC, timestamp, record_id LIMIT ?",
        [*params, size],
    ).fetchall()
    return [AnomalyRecord.from_row(r) for r in rows], int(total_row[0]) if total_row else 0


def fetch_early_records(
    con: duckdb.DuckDBPyConnection,
    job_ids: Sequence[str],
    start: datetime,
    end: datetime,
    threshold: float,
) -> list[AnomalyRecord]:
    """Early records of ``job_ids`` (every data end) in ``[start, end]`` scoring ``>=
    threshold``, by bucket and data end (:mod:`trailspike.jobs.early`)."""
    if not job_ids:
        return []
    marks = ", ".join("?" for _ in job_ids)
    rows = con.execute(
        f"SELECT {', '.join(RECORD_COLUMNS)}, data_end FROM early_records "  # noqa: S608
        f"WHERE job_id IN ({marks}) AND timestamp >= ? AND timestamp <= ? AND record_score >= ? "
        "ORDER BY timestamp, data_end, record_id",
        [*job_ids, start, end, threshold],
    ).fetchall()
    return [AnomalyRecord.from_row(r) for r in rows]


def fetch_record(con: duckdb.DuckDBPyConnection, record_id: str) -> AnomalyRecord | None:
    """The final record ``record_id``, or its latest early result while there is no final one."""
    row = con.execute(
        f"SELECT {', '.join(RECORD_COLUMNS)} FROM anomaly_records WHERE record_id = ?",  # noqa: S608
        [record_id],
    ).fetchone()
    if row is None:
        return None
    record = AnomalyRecord.from_row(row)
    if not record.is_interim:
        return record
    end = con.execute(
        "SELECT max(data_end) FROM early_records WHERE record_id = ?", [record_id]
    ).fetchone()
    return replace(record, data_end=end[0] if end else None)
