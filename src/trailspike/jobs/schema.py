"""Anomaly-detection job definitions: Elastic's anomaly-detector JSON shape, validated.

A job file is what Kibana shows under "JSON" for a job (``job_id``, ``analysis_config`` with
``bucket_span``, ``detectors`` and ``influencers``, ``analysis_limits``, ``data_description``,
``custom_settings``) plus its datafeed (``datafeed`` or Elasticsearch's ``datafeed_config``)
holding the bool-query subset of :mod:`trailspike.features.query`. Models are frozen and forbid
unknown keys, so a typo fails with the key named instead of being ignored.

Implementation decisions: pasting a job from Kibana must work, so the read-only bookkeeping keys
Elasticsearch adds to a job it returns (``create_time``, ``job_version``, ``model_snapshot_id``
and the like, :data:`IGNORED_ES_KEYS`) are accepted and dropped; every other unknown key is an
error. Elastic keeps filter lists in a separate store; trailspike lets a job carry them inline
(``filters``) so a custom rule's scope can ship with the job (Kibana issue #246804). trailspike's
own options live under ``custom_settings.trailspike`` (:data:`TRAILSPIKE_SETTINGS`), which
Elasticsearch stores and ignores, so such a job still loads in Kibana.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trailspike.core.timeutil import parse_duration
from trailspike.features.functions import FUNCTIONS, FunctionSpec
from trailspike.features.query import Clause, QueryError, check_field, parse_query, query_fields

# Keys of ``custom_settings.trailspike``: ``wording_fields`` lists detector fields read by their
# wording (:mod:`trailspike.features.wording`).
TRAILSPIKE_SETTINGS = frozenset({"wording_fields"})

IGNORED_ES_KEYS = frozenset(
    {
        "create_time",
        "finished_time",
        "job_version",
        "model_snapshot_id",
        "model_snapshot_min_version",
        "established_model_memory",
        "results_index_name",
        "blocked",
        "deleting",
        "background_persist_interval",
        "daily_model_snapshot_retention_after_days",
        "model_snapshot_retention_days",
        "results_retention_days",
    }
)
"""Keys Elasticsearch adds when it returns a job; accepted on input and ignored."""

JobId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)]
Duration = Annotated[str, Field(pattern=r"^\s*\d+\s*(ms|s|m|h|d|w)\s*$")]
MemorySize = Annotated[str, Field(pattern=r"^\s*\d+\s*(b|kb|mb|gb)?\s*$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleCondition(_Frozen):
    """A numeric condition of a custom rule: ``applies_to`` ``operator`` ``value``."""

    applies_to: Literal["actual", "typical", "diff_from_typical"]
    operator: Literal["gt", "gte", "lt", "lte"]
    value: float


class FilterRef(_Frozen):
    """A custom rule's scope on one field: match (include) or exclude the values of a filter."""

    filter_id: str
    filter_type: Literal["include", "exclude"] = "include"


class CustomRule(_Frozen):
    """Elastic's detector ``custom_rules`` entry: skip results or model updates when it applies."""

    actions: tuple[Literal["skip_result", "skip_model_update"], ...] = ("skip_result",)
    scope: dict[str, FilterRef] = Field(default_factory=dict)
    conditions: tuple[RuleCondition, ...] = ()

    @model_validator(mode="after")
    def _needs_scope_or_condition(self) -> CustomRule:
        if not self.scope and not self.conditions:
            raise ValueError("a custom rule needs a scope or at least one condition")
        return self


class Detector(_Frozen):
    """One detector: a function over an optional field, split by ``by``/``over``/``partition``."""

    function: str
    field_name: str | None = None
    by_field_name: str | None = None
    over_field_name: str | None = None
    partition_field_name: str | None = None
    detector_description: str | None = None
    detector_index: int | None = None
    use_null: bool = False
    exclude_frequent: Literal["all", "none", "by", "over"] | None = None
    custom_rules: tuple[CustomRule, ...] = ()

    @field_validator("function")
    @classmethod
    def _known_function(cls, value: str) -> str:
        if value not in FUNCTIONS:
            raise ValueError(f"unknown function {value!r} (known: {', '.join(sorted(FUNCTIONS))})")
        return value

    @field_validator("field_name", "by_field_name", "over_field_name", "partition_field_name")
    @classmethod
    def _field_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_field(value, "field")
        except QueryError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _field_matches_function(self) -> Detector:
        spec = FUNCTIONS[self.function]
        if spec.needs_field and not self.field_name:
            raise ValueError(f"function {self.function} needs field_name")
        if not spec.needs_field and self.field_name:
            raise ValueError(f"function {self.function} takes no field_name")
        if spec.is_rare and not self.by_field_name:
            raise ValueError(f"function {self.function} needs by_field_name")
        return self

    @property
    def spec(self) -> FunctionSpec:
        """The registry entry of this detector's function."""
        return FUNCTIONS[self.function]

    def describe(self) -> str:
        """``detector_description``, or :meth:`signature` when there is none."""
        return self.detector_description or self.signature()

    def signature(self) -> str:
        """The detector in Elastic's short form.

        >>> Detector(function="rare", by_field_name="event.action",
        ...          partition_field_name="user.name").signature()
        'rare() by event.action partitionfield=user.name'
        """
        text = f"{self.function}({self.field_name or ''})"
        for word, field in (
            ("by", self.by_field_name),
            ("over", self.over_field_name),
            ("partitionfield=", self.partition_field_name),
        ):
            if field:
                text += f" {word}{'' if word.endswith('=') else ' '}{field}"
        return text


class ModelPlotConfig(_Frozen):
    enabled: bool = False
    terms: str | None = None
    annotations_enabled: bool = True


class AnalysisConfig(_Frozen):
    bucket_span: Duration
    detectors: tuple[Detector, ...] = Field(min_length=1)
    influencers: tuple[str, ...] = ()
    model_prune_window: Duration | None = None
    latency: Duration | None = None

    @field_validator("influencers")
    @classmethod
    def _influencer_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for field in value:
            try:
                check_field(field, "influencers")
            except QueryError as exc:
                raise ValueError(str(exc)) from None
        return value


class AnalysisLimits(_Frozen):
    model_memory_limit: MemorySize = "1024mb"
    categorization_examples_limit: int | None = None


class DataDescription(_Frozen):
    time_field: Literal["@timestamp"] = "@timestamp"
    time_format: str | None = None


class Datafeed(_Frozen):
    """Which events a job sees: the Elasticsearch bool-query subset, plus timing knobs."""

    datafeed_id: str | None = None
    job_id: str | None = None
    indices: tuple[str, ...] = ()
    query: dict[str, Any] = Field(default_factory=lambda: {"match_all": {}})
    max_empty_searches: int | None = None
    query_delay: Duration | None = None
    frequency: Duration | None = None
    scroll_size: int | None = None

    @field_validator("query")
    @classmethod
    def _parsable(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            parse_query(value)
        except QueryError as exc:
            raise ValueError(str(exc)) from None
        return value

    def clause(self) -> Clause:
        """The parsed query."""
        return parse_query(self.query)


class JobConfig(_Frozen):
    """One anomaly-detection job (see the module docstring for the accepted shape)."""

    job_id: JobId
    job_type: Literal["anomaly_detector"] = "anomaly_detector"
    description: str = ""
    groups: tuple[str, ...] = ()
    analysis_config: AnalysisConfig
    analysis_limits: AnalysisLimits = AnalysisLimits()
    data_description: DataDescription = DataDescription()
    model_plot_config: ModelPlotConfig | None = None
    custom_settings: dict[str, Any] = Field(default_factory=dict)
    allow_lazy_open: bool = False
    renormalization_window_days: int | None = Field(default=None, ge=1)
    filters: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    datafeed: Datafeed = Field(default_factory=Datafeed, alias="datafeed_config")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_es_bookkeeping(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in IGNORED_ES_KEYS}
            if "datafeed" in data and "datafeed_config" in data:
                raise ValueError("give datafeed or datafeed_config, not both")
            if "datafeed" in data:
                data["datafeed_config"] = data.pop("datafeed")
        return data

    @model_validator(mode="after")
    def _scopes_name_filters(self) -> JobConfig:
        for i, det in enumerate(self.analysis_config.detectors):
            for rule in det.custom_rules:
                for field, ref in rule.scope.items():
                    if ref.filter_id not in self.filters:
                        raise ValueError(
                            f"detectors[{i}].custom_rules scope {field}: filter "
                            f"{ref.filter_id!r} is not in the job's filters"
                        )
                    if field not in (det.by_field_name, det.over_field_name,
                                     det.partition_field_name):  # fmt: skip
                        raise ValueError(
                            f"detectors[{i}].custom_rules scope {field!r} is not the detector's "
                            "by, over or partition field"
                        )
        return self

    @model_validator(mode="after")
    def _known_trailspike_settings(self) -> JobConfig:
        ours = self.custom_settings.get("trailspike", {})
        if not isinstance(ours, dict):
            raise ValueError("custom_settings.trailspike must be an object")
        unknown = sorted(set(ours) - TRAILSPIKE_SETTINGS)
        if unknown:
            raise ValueError(
                f"custom_settings.trailspike: unknown key {unknown[0]!r} "
                f"(known: {', '.join(sorted(TRAILSPIKE_SETTINGS))})"
            )
        fields = ours.get("wording_fields", [])
        if not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
            raise ValueError("custom_settings.trailspike.wording_fields must be a list of fields")
        detector_fields = {d.field_name for d in self.analysis_config.detectors}
        for field in fields:
            if field not in detector_fields:
                raise ValueError(
                    f"custom_settings.trailspike.wording_fields: {field!r} is no detector's "
                    "field_name"
                )
        return self

    @property
    def wording_fields(self) -> tuple[str, ...]:
        """Detector fields read by their wording (:mod:`trailspike.features.wording`).

        >>> JobConfig.model_validate({"job_id": "j", "analysis_config": {"bucket_span": "15m",
        ...     "detectors": [{"function": "high_distinct_count", "field_name": "m"}]},
        ...     "custom_settings": {"trailspike": {"wording_fields": ["m"]}}}).wording_fields
        ('m',)
        """
        return tuple(self.custom_settings.get("trailspike", {}).get("wording_fields", []))

    @property
    def bucket_span_seconds(self) -> int:
        """The bucket span in whole seconds.

        >>> JobConfig.model_validate({"job_id": "j", "analysis_config": {"bucket_span": "15m",
        ...     "detectors": [{"function": "count"}]}}).bucket_span_seconds
        900
        """
        return int(parse_duration(self.analysis_config.bucket_span).total_seconds())

    @property
    def bucket_span(self) -> timedelta:
        return timedelta(seconds=self.bucket_span_seconds)

    @property
    def model_prune_window(self) -> timedelta:
        """Configured window, else Elastic's default: the greater of 30 days and 20 buckets."""
        if self.analysis_config.model_prune_window:
            return parse_duration(self.analysis_config.model_prune_window)
        return max(timedelta(days=30), 20 * self.bucket_span)

    @property
    def model_memory_limit_bytes(self) -> int:
        """``analysis_limits.model_memory_limit`` in bytes (a bare number means megabytes)."""
        text = self.analysis_limits.model_memory_limit.strip().lower()
        units = {"gb": 1 << 30, "mb": 1 << 20, "kb": 1 << 10, "b": 1}
        for unit, factor in units.items():
            if text.endswith(unit):
                return int(text[: -len(unit)].strip()) * factor
        return int(text) << 20

    @property
    def revision(self) -> str:
        """A content hash of the definition: a changed job gets a new revision."""
        payload = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def model_revision(self) -> str:
        """A hash of what the models depend on (analysis config and datafeed query): editing a
        description keeps the stored models, changing a detector or the query does not."""
        payload = json.dumps(
            {
                "analysis_config": self.analysis_config.model_dump(mode="json"),
                "query": self.datafeed.query,
                "filters": self.filters,
                # Only when set, so jobs without it keep the revision their models were saved with.
                **({"wording_fields": list(self.wording_fields)} if self.wording_fields else {}),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def fields(self) -> list[str]:
        """Every ECS field the job reads: detector fields, influencers and datafeed fields."""
        found: list[str] = []
        for det in self.analysis_config.detectors:
            found += [
                f
                for f in (
                    det.field_name,
                    det.by_field_name,
                    det.over_field_name,
                    det.partition_field_name,
                )
                if f
            ]
        found += list(self.analysis_config.influencers)
        found += query_fields(self.datafeed.clause())
        return list(dict.fromkeys(found))


def job_json_schema() -> dict[str, Any]:
    """The JSON Schema of a job file (written to ``docs/job.schema.json``)."""
    return JobConfig.model_json_schema(by_alias=True)
