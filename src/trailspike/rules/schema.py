"""Typed schema of detection-rule files: TOML in elastic/detection-rules' shape.

A rule file has ``[metadata]``, ``[rule]`` and optional inline ``[[tests]]``. ``[rule]`` is a
discriminated union on ``type``; ``machine_learning`` is the only type so far, and adding one is
adding a class to :data:`RuleData`.

Implementation decisions: pydantic v2 models, frozen and ``extra="forbid"``, so a misspelt key fails
with its name instead of being ignored. Constrained types (``RiskScore``, ``Severity``) are
written once here, as detection-rules' ``definitions.py`` does. ``from`` is a Python keyword, so
the field is ``from_`` with the alias ``from``. Exception items use Kibana's entry vocabulary
(``match``, ``match_any``, ``exists``, ``wildcard``, ``list``; operator ``included``/``excluded``)
so lists exported from Kibana read as-is.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trailspike.core.timeutil import parse_duration, parse_relative

Severity = Literal["low", "medium", "high", "critical"]
RiskScore = Annotated[int, Field(ge=0, le=100)]
AnomalyThreshold = Annotated[int, Field(ge=0, le=100)]
RuleId = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{1,128}$")]

# detection-rules' tests/test_all_rules.py bands: severity must agree with risk_score.
RISK_BANDS: dict[str, tuple[int, int]] = {
    "low": (0, 21),
    "medium": (22, 47),
    "high": (48, 73),
    "critical": (74, 100),
}

DEFAULT_MAX_SIGNALS = 100  # Kibana's DEFAULT_MAX_SIGNALS


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Metadata(_Frozen):
    creation_date: str
    updated_date: str | None = None
    maturity: Literal["development", "experimental", "beta", "production", "deprecated"]
    integration: list[str] = []


class ThreatTechnique(_Frozen):
    id: str
    name: str
    reference: str
    subtechnique: list[ThreatTechnique] = []


class ThreatTactic(_Frozen):
    id: str
    name: str
    reference: str


class Threat(_Frozen):
    framework: Literal["MITRE ATT&CK"]
    tactic: ThreatTactic
    technique: list[ThreatTechnique] = []


class ExceptionListRef(_Frozen):
    """A reference to a shared exception list (Kibana's ``exceptions_list`` entry)."""

    id: str
    list_id: str
    namespace_type: Literal["single", "agnostic"] = "single"
    type: Literal["detection", "rule_default", "endpoint"] = "detection"


class ValueListRef(_Frozen):
    id: str
    type: Literal["keyword", "ip", "text"] = "keyword"


class ExceptionEntry(_Frozen):
    """One condition of an exception item; all entries of an item must hold for it to match."""

    field: str
    type: Literal["match", "match_any", "exists", "wildcard", "list"]
    operator: Literal["included", "excluded"] = "included"
    value: str | list[str] | None = None
    value_list: ValueListRef | None = Field(default=None, alias="list")

    @model_validator(mode="after")
    def _value_fits_type(self) -> ExceptionEntry:
        if self.type in ("match", "wildcard") and not isinstance(self.value, str):
            raise ValueError(f"entry on {self.field!r}: type {self.type} needs one string value")
        if self.type == "match_any" and not isinstance(self.value, list):
            raise ValueError(f"entry on {self.field!r}: type match_any needs a list of values")
        if self.type == "list" and self.value_list is None:
            raise ValueError(f"entry on {self.field!r}: type list needs list = {{id = ...}}")
        if self.type == "exists" and self.value is not None:
            raise ValueError(f"entry on {self.field!r}: type exists takes no value")
        return self


class ExceptionItem(_Frozen):
    name: str
    entries: Annotated[list[ExceptionEntry], Field(min_length=1)]
    comment: str | None = None


class SuppressionDuration(_Frozen):
    value: Annotated[int, Field(gt=0)]
    unit: Literal["s", "m", "h"]

    def timedelta(self) -> timedelta:
        return parse_duration(f"{self.value}{self.unit}")


class AlertSuppression(_Frozen):
    """Fold anomalies that share ``group_by`` values into one alert for ``duration``."""

    group_by: Annotated[list[str], Field(min_length=1, max_length=3)]
    duration: SuppressionDuration | None = None  # None: within one rule execution only
    missing_fields_strategy: Literal["suppress", "doNotSuppress"] = "suppress"


class BaseRuleData(_Frozen):
    rule_id: RuleId
    name: str
    description: str
    author: list[str] = []
    license: str | None = None
    interval: str = "5m"
    from_: str = Field(default="now-6m", alias="from")
    to: str = "now"
    max_signals: Annotated[int, Field(ge=1, le=10000)] = DEFAULT_MAX_SIGNALS
    severity: Severity
    risk_score: RiskScore
    tags: list[str] = []
    false_positives: list[str] = []
    references: list[str] = []
    note: str | None = None
    setup: str | None = None
    threat: list[Threat] = []
    exceptions_list: list[ExceptionListRef] = []
    exceptions: list[ExceptionItem] = []  # trailspike: exception items shipped with the rule
    alert_suppression: AlertSuppression | None = None
    enabled: bool = True
    version: int = 1

    @field_validator("interval")
    @classmethod
    def _interval_is_duration(cls, value: str) -> str:
        if parse_duration(value).total_seconds() <= 0:
            raise ValueError("interval must be positive")
        return value

    @field_validator("from_", "to")
    @classmethod
    def _date_math(cls, value: str) -> str:
        from datetime import datetime

        parse_relative(value, datetime(2000, 1, 1))
        return value

    @model_validator(mode="after")
    def _window_is_forward(self) -> BaseRuleData:
        if self.lookback() <= timedelta(0):
            raise ValueError(f"`from` ({self.from_}) must be earlier than `to` ({self.to})")
        return self

    def interval_td(self) -> timedelta:
        return parse_duration(self.interval)

    def lookback(self) -> timedelta:
        """Width of one execution's window, ``to - from``.

        >>> MachineLearningRuleData.model_validate(_EXAMPLE).lookback()
        datetime.timedelta(seconds=3600)
        """
        from datetime import datetime

        anchor = datetime(2000, 1, 1)
        return parse_relative(self.to, anchor) - parse_relative(self.from_, anchor)


class MachineLearningRuleData(BaseRuleData):
    type: Literal["machine_learning"]
    anomaly_threshold: AnomalyThreshold
    machine_learning_job_id: str | list[str]

    def job_ids(self) -> list[str]:
        ids = self.machine_learning_job_id
        return [ids] if isinstance(ids, str) else list(ids)


RuleData = Annotated[MachineLearningRuleData, Field(discriminator="type")]


class InlineTest(_Frozen):
    """A test kept with the rule: records (ndjson, relative to the repo) and what should happen."""

    name: str
    records: str
    at: str
    expected_alerts: Annotated[int, Field(ge=0)]


class RuleFile(_Frozen):
    metadata: Metadata
    rule: RuleData
    tests: list[InlineTest] = []


_EXAMPLE = {
    "rule_id": "example",
    "name": "Example",
    "description": "d",
    "type": "machine_learning",
    "machine_learning_job_id": "high_distinct_count_error_message",
    "anomaly_threshold": 50,
    "interval": "15m",
    "from": "now-60m",
    "severity": "low",
    "risk_score": 21,
}
