"""The shapes a triage produces: one :class:`StepResult` per investigation step, and the report.

Implementation decisions: results are plain frozen dataclasses holding JSON-friendly values
(strings, numbers, lists of row dicts), so the Markdown, HTML and JSON renderers and the web UI
read the same object and nothing needs a custom encoder beyond datetimes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Signal = Literal["suspicious", "benign", "neutral"]
VerdictLabel = Literal["suspicious", "likely benign", "needs review"]


@dataclass(frozen=True)
class StepResult:
    """What one investigation step checked and found.

    Attributes
    ----------
    name
        Short identifier of the step (``error_history``, ``source_ips``, …).
    question
        The investigation-guide question the step answers, in plain words.
    finding
        One or two sentences answering it, with the numbers.
    evidence
        Counts, time ranges and tables (a list of row dicts) behind the finding.
    query
        SQL (with ``?`` placeholders) and its bound parameters, to reproduce the evidence.
    verdict_signal
        Which way this step points: ``suspicious``, ``benign`` or ``neutral``.
    reasons
        Short phrases the verdict quotes (``"new country"``, ``"CI user agent"``).
    weight
        How strongly the step points that way (0 for neutral).
    """

    name: str
    question: str
    finding: str
    evidence: dict[str, Any]
    query: str
    verdict_signal: Signal = "neutral"
    reasons: tuple[str, ...] = ()
    weight: int = 0


@dataclass(frozen=True)
class Verdict:
    """The summary hint: a label, a one-line headline and the reasons on each side."""

    label: VerdictLabel
    headline: str
    suspicious_reasons: tuple[str, ...]
    benign_reasons: tuple[str, ...]
    score: int


@dataclass(frozen=True)
class AlertSummary:
    """The alert being triaged, as the reader needs it at the top of a report."""

    alert_uuid: str
    rule_id: str
    rule_name: str
    job_id: str
    record_id: str
    severity: str
    risk_score: int
    record_score: float
    bucket_start: datetime
    bucket_end: datetime
    reason: str
    workflow_status: str
    function: str
    actual: float | None
    typical: float | None
    principals: tuple[str, ...]
    access_keys: tuple[str, ...]
    user_names: tuple[str, ...]
    source_ips: tuple[str, ...]
    event_count: int


@dataclass(frozen=True)
class TriageReport:
    """Everything a triage found about one alert."""

    alert: AlertSummary
    steps: tuple[StepResult, ...]
    verdict: Verdict
    generated_at: datetime
    notes: tuple[str, ...] = field(default=())

    def step(self, name: str) -> StepResult:
        """The step called ``name`` (KeyError if the report has none)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (datetimes stay datetimes; the JSON renderer formats them)."""
        return asdict(self)
