"""Score the alerts of a store against the labelled scenarios of a demo world.

For every scenario: which rules alerted on it, the delay from its start to the first alert (the
rule execution that raised it), and how many alerts; for the time outside malicious scenarios:
alerts per week per rule. The goals of issue 5 are checked and reported with their evidence:
every malicious scenario caught within 30 minutes by a rule meant for it, the benign scenarios
without a spike alert, and at most one spike alert per benign week.

Implementation decisions: an alert belongs to a scenario when its anomaly bucket
``[original_time, original_time + bucket_span)`` overlaps the scenario's span *and* the alert
names one of the scenario's principals (ARN, user or role name in the alert document or the
record's influencers); time alone would credit a scenario with an unrelated alert that happened
to fire in the same hour. Benign-time counts include alerts on benign scenarios, since those are
false positives too. Detection delay is measured to the first moment the alert could exist in
real time: the first rule execution (every ``interval`` from the world's start) at or after both
the alert's ``created_at`` and the end of the data its anomaly rests on plus ``query_delay``
(the bucket's end, or the data end of an early result, see :mod:`trailspike.jobs.early`). A
backfill run after the jobs have scored the whole world can otherwise raise
an alert at an execution before its bucket even ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import duckdb

SPIKE_JOB = "high_distinct_count_error_message"
DETECTION_GOAL = timedelta(minutes=30)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class AlertRow:
    """The fields of an alert the scorecard needs."""

    alert_uuid: str
    rule_id: str
    rule_name: str
    job_id: str
    original_time: datetime
    created_at: datetime
    record_score: float
    bucket_span: int
    text: str = ""
    data_end: datetime | None = None  # an early result's data end (trailspike.jobs.early)
    detected_at: datetime | None = None

    @property
    def bucket_end(self) -> datetime:
        return self.original_time + timedelta(seconds=self.bucket_span)

    @property
    def seen_until(self) -> datetime:
        """End of the data the alert's anomaly rests on."""
        return self.data_end or self.bucket_end

    @property
    def when(self) -> datetime:
        """When the alert was (or, in real time, could first have been) raised."""
        return self.detected_at or self.created_at


def detection_time(
    alert: AlertRow, origin: datetime, query_delay: timedelta, interval: timedelta
) -> datetime:
    """The first rule execution at which ``alert`` could exist in real time.

    >>> a = AlertRow("u", "r", "n", "j", datetime(2026, 1, 1, 3), datetime(2026, 1, 1, 3), 50, 900)
    >>> detection_time(a, datetime(2026, 1, 1), timedelta(minutes=2), timedelta(minutes=15))
    datetime.datetime(2026, 1, 1, 3, 30)
    """
    earliest = max(alert.created_at, alert.seen_until + query_delay)
    steps = -(-(earliest - origin) // interval)
    return origin + steps * interval


@dataclass
class ScenarioScore:
    """How the rules did on one labelled scenario."""

    id: int
    name: str
    title: str
    malicious: bool
    start: datetime
    end: datetime
    alerts: list[AlertRow] = field(default_factory=list)
    expected_jobs: tuple[str, ...] = ()
    expected_rules: tuple[str, ...] = ()
    must_not_jobs: tuple[str, ...] = ()

    def is_expected(self, alert: AlertRow) -> bool:
        return alert.job_id in self.expected_jobs or alert.rule_name in self.expected_rules

    @property
    def rules_alerted(self) -> dict[str, int]:
        """Alert count per rule name."""
        return dict(Counter(a.rule_name for a in self.alerts))

    @property
    def first_expected(self) -> AlertRow | None:
        hits = [a for a in self.alerts if self.is_expected(a)]
        return min(hits, key=lambda a: (a.when, a.original_time)) if hits else None

    @property
    def delay(self) -> timedelta | None:
        """From the scenario's start to the first alert by a rule meant for it."""
        first = self.first_expected
        return None if first is None else first.when - self.start

    @property
    def forbidden(self) -> list[AlertRow]:
        """Alerts by jobs that must stay quiet on this (benign) scenario."""
        return [a for a in self.alerts if a.job_id in self.must_not_jobs]

    @property
    def outcome(self) -> str:
        """caught / late / missed for malicious scenarios; quiet / noisy for benign ones."""
        if not self.malicious:
            return "noisy" if self.forbidden else "quiet"
        delay = self.delay
        if delay is None:
            return "missed"
        return "caught" if delay <= DETECTION_GOAL else "late"


@dataclass
class WeekCount:
    """Alerts per rule in one week of the world, outside malicious scenarios."""

    index: int
    start: datetime
    end: datetime
    per_rule: dict[str, int] = field(default_factory=dict)


@dataclass
class Goal:
    """One goal of issue 5, whether it holds, and the evidence."""

    text: str
    ok: bool
    evidence: str


@dataclass
class Scorecard:
    """Scenario scores, benign weeks and the goals."""

    scenarios: list[ScenarioScore]
    weeks: list[WeekCount]
    rules: list[str]
    goals: list[Goal]
    spike_rule: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``--json``)."""
        return {
            "scenarios": [
                {
                    "id": s.id,
                    "name": s.name,
                    "malicious": s.malicious,
                    "start": s.start.isoformat(),
                    "end": s.end.isoformat(),
                    "rules_alerted": s.rules_alerted,
                    "alerts": len(s.alerts),
                    "first_alert_rule": s.first_expected.rule_name if s.first_expected else None,
                    "delay_minutes": _minutes(s.delay),
                    "outcome": s.outcome,
                }
                for s in self.scenarios
            ],
            "benign_weeks": [
                {"week": w.index, "start": w.start.isoformat(), "per_rule": w.per_rule}
                for w in self.weeks
            ],
            "goals": [{"goal": g.text, "ok": g.ok, "evidence": g.evidence} for g in self.goals],
        }


def _minutes(delta: timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds() / 60, 1)


def _parse(value: str) -> datetime:
    """ISO time from scenarios.json as naive UTC.

    >>> _parse("2026-12-02T03:12:09Z")
    datetime.datetime(2026, 12, 2, 3, 12, 9)
    """
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


def principal_tokens(arns: Iterable[str]) -> set[str]:
    """Strings that identify the principals in an alert: the ARN and its user or role name.

    >>> sorted(principal_tokens(["arn:aws:sts::1:assumed-role/etl/etl-batch"]))
    ['arn:aws:sts::1:assumed-role/etl/etl-batch', 'assumed-role/etl/']
    >>> sorted(principal_tokens(["arn:aws:iam::1:user/bob"]))
    ['arn:aws:iam::1:user/bob', 'user/bob']
    """
    tokens: set[str] = set()
    for arn in arns:
        tokens.add(arn)
        resource = arn.split(":", 5)[-1]
        if resource.startswith("assumed-role/"):
            tokens.add("assumed-role/" + resource.split("/")[1] + "/")
        elif resource.startswith("user/"):
            tokens.add(resource)
    return tokens


def attribute(alerts: Sequence[AlertRow], scenario: ScenarioScore, arns: Iterable[str]) -> None:
    """Give ``scenario`` the alerts whose bucket overlaps it and that name its principals."""
    tokens = principal_tokens(arns)
    for alert in alerts:
        overlaps = alert.original_time < scenario.end and alert.bucket_end > scenario.start
        if overlaps and any(t in alert.text for t in tokens):
            scenario.alerts.append(alert)


def score_scenarios(
    labels: Mapping[str, Any],
    alerts: Sequence[AlertRow],
    rule_names: Iterable[str] = (),
    *,
    query_delay: timedelta = timedelta(minutes=2),
    interval: timedelta = timedelta(minutes=15),
) -> Scorecard:
    """Build the scorecard of ``alerts`` against the ``scenarios.json`` content ``labels``.

    ``rule_names`` lists rules to show even when they raised nothing; ``query_delay`` and
    ``interval`` (the rules' schedule) set when an alert could first exist (see
    :func:`detection_time`).
    """
    world_start, world_end = _parse(labels["world"]["start"]), _parse(labels["world"]["end"])
    alerts = [
        replace(a, detected_at=detection_time(a, world_start, query_delay, interval))
        for a in alerts
    ]
    scenarios = []
    for item in labels["scenarios"]:
        score = ScenarioScore(
            id=int(item["id"]),
            name=str(item["name"]),
            title=str(item.get("title", item["name"])),
            malicious=bool(item["malicious"]),
            start=_parse(item["start"]),
            end=_parse(item["end"]),
            expected_jobs=tuple(item.get("expected_jobs", ())),
            expected_rules=tuple(item.get("expected_rules", ())),
            must_not_jobs=tuple(item.get("must_not_alert_jobs", ())),
        )
        attribute(alerts, score, item.get("principals", ()))
        scenarios.append(score)
    malicious_ids = {a.alert_uuid for s in scenarios if s.malicious for a in s.alerts}
    benign = [a for a in alerts if a.alert_uuid not in malicious_ids]
    weeks = _weeks(benign, world_start, world_end)
    rules = sorted(set(rule_names) | {a.rule_name for a in alerts})
    spike_rule = next((a.rule_name for a in alerts if a.job_id == SPIKE_JOB), SPIKE_JOB)
    spike_names = {spike_rule, "Spike in AWS Error Messages"}
    goals = _goals(scenarios, weeks, spike_names)
    return Scorecard(scenarios, weeks, rules, goals, spike_rule)


def _weeks(alerts: Sequence[AlertRow], start: datetime, end: datetime) -> list[WeekCount]:
    weeks = []
    index, at = 1, start
    while at < end:
        week = WeekCount(index, at, min(at + WEEK, end))
        inside = [a for a in alerts if week.start <= a.original_time < week.end]
        week.per_rule = dict(Counter(a.rule_name for a in inside))
        weeks.append(week)
        index, at = index + 1, at + WEEK
    return weeks


def _goals(
    scenarios: Sequence[ScenarioScore], weeks: Sequence[WeekCount], spike_names: set[str]
) -> list[Goal]:
    goals = []
    for s in scenarios:
        if s.malicious:
            first = s.first_expected
            evidence = (
                f"first alert by {first.rule_name} after {_minutes(s.delay)} min"
                if first
                else "no alert by a rule meant for it"
            )
            goals.append(
                Goal(
                    f"scenario {s.id} ({s.name}) alerted within 30 min",
                    s.outcome == "caught",
                    evidence,
                )
            )
        elif s.must_not_jobs:
            n = len(s.forbidden)
            goals.append(
                Goal(
                    f"benign scenario {s.id} ({s.name}) raises no spike alert",
                    n == 0,
                    f"{n} spike alert(s)",
                )
            )
    for w in weeks:
        n = sum(c for rule, c in w.per_rule.items() if rule in spike_names)
        goals.append(
            Goal(
                f"week {w.index} ({w.start:%Y-%m-%d}): spike rule ≤ 1 alert in benign time",
                n <= 1,
                f"{n} spike alert(s)",
            )
        )
    return goals


def load_alert_rows(con: duckdb.DuckDBPyConnection) -> list[AlertRow]:
    """Every alert in the store with its record's bucket span and influencers."""
    rows = con.execute(
        """
        SELECT a.alert_uuid, a.rule_id, a.rule_name, a.job_id, a.original_time, a.created_at,
               a.record_score,
               coalesce(r.bucket_span, TRY_CAST(a.doc->>'$.bucket_span' AS INTEGER), 900),
               a.doc || coalesce(r.influencers, '') || coalesce(r.by_field_value, '')
                     || coalesce(r.partition_field_value, '') || coalesce(r.over_field_value, ''),
               TRY_CAST(json_extract_string(a.doc, '$.trailspike.data_end') AS TIMESTAMP)
        FROM alerts a LEFT JOIN records r ON r.record_id = a.record_id
        ORDER BY a.original_time, a.rule_name
        """
    ).fetchall()
    return [AlertRow(*row) for row in rows]


def _delay_text(s: ScenarioScore) -> str:
    first = s.first_expected
    if first is None:
        return "-"
    return f"{_minutes(s.delay)} min ({first.rule_name})"


_STYLE = {"caught": "green", "quiet": "green", "late": "yellow", "missed": "red", "noisy": "red"}


def render_scorecard(card: Scorecard) -> Any:
    """The scorecard as rich renderables: scenario table, benign weeks table, goals."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    scenarios = Table(
        title="Scenarios",
        title_justify="left",
        caption=(
            "Delay: from the scenario's start to the first rule run that could see the alert "
            "(its data end + query_delay). CloudTrail's own delivery delay (typically 5-15 min) "
            "comes on top for every rule alike."
        ),
        caption_justify="left",
    )
    for column in (
        "#",
        "scenario",
        "kind",
        "start (UTC)",
        "rules that alerted",
        "first expected alert",
        "alerts",
        "result",
    ):
        scenarios.add_column(column, overflow="fold")
    for s in card.scenarios:
        alerted = ", ".join(f"{rule} ×{n}" for rule, n in sorted(s.rules_alerted.items()))
        scenarios.add_row(
            str(s.id),
            s.name,
            "malicious" if s.malicious else "benign",
            f"{s.start:%Y-%m-%d %H:%M}",
            alerted or "none",
            _delay_text(s),
            str(len(s.alerts)),
            Text(s.outcome, style=_STYLE[s.outcome]),
        )
    weeks = Table(
        title="Benign time: alerts per week per rule (outside malicious scenarios)",
        title_justify="left",
    )
    weeks.add_column("rule")
    for w in card.weeks:
        weeks.add_column(f"week {w.index} ({w.start:%m-%d})", justify="right")
    for rule in card.rules:
        weeks.add_row(rule, *(str(w.per_rule.get(rule, 0)) for w in card.weeks))
    goals = Table(title="Goals (issue 5)", title_justify="left")
    for column in ("goal", "holds", "evidence"):
        goals.add_column(column)
    for g in card.goals:
        goals.add_row(
            g.text, Text("yes" if g.ok else "no", style="green" if g.ok else "red"), g.evidence
        )
    return Group(scenarios, weeks, goals)
