"""Alerts grouped by who or what they are about, for a queue an analyst can read.

Each anomaly record is its own alert (as in Elastic), so one incident can raise many: a stolen
key's discovery calls, or a burst of methods new to a user, alert once per method. Grouping by
principal folds them into one line per actor with the count, the rules involved, the highest
score and the time range, like Kibana's "group alerts by" view.

Implementation decisions: a principal is the alert's first ``aws.cloudtrail.user_identity.arn``
influencer value, else its ``user.name`` / ``user.id`` / partition value (the spike job's
records name no user but carry the ARN influencer); alerts without any fall in one group named
``-``. Groups are ordered by their highest score, then their latest anomaly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trailspike.rules.alerts import AlertRow

PRINCIPAL_FIELDS = ("aws.cloudtrail.user_identity.arn", "user.name", "user.id")
NO_KEY = "-"


@dataclass
class AlertGroup:
    """Alerts sharing one key."""

    key: str
    alerts: list[AlertRow] = field(default_factory=list)

    @property
    def top(self) -> AlertRow:
        """The highest-scoring alert (the latest among equals)."""
        return max(self.alerts, key=lambda a: (a.record_score, a.original_time))

    @property
    def first(self) -> datetime:
        return min(a.original_time for a in self.alerts)

    @property
    def last(self) -> datetime:
        return max(a.original_time for a in self.alerts)

    def rules(self) -> dict[str, int]:
        """Rule name -> alerts, most first."""
        counts: dict[str, int] = {}
        for a in self.alerts:
            counts[a.rule_name] = counts.get(a.rule_name, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def open_count(self) -> int:
        return sum(1 for a in self.alerts if a.workflow_status == "open")

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "alerts": len(self.alerts),
            "open": self.open_count(),
            "rules": self.rules(),
            "max_record_score": self.top.record_score,
            "first_anomaly": self.first.isoformat(),
            "last_anomaly": self.last.isoformat(),
            "top_alert": self.top.alert_uuid,
            "top_reason": self.top.reason,
            "alert_ids": [a.alert_uuid for a in self.alerts],
        }


def principal_of(doc: dict[str, Any]) -> str:
    """Who an alert is about, from its document.

    >>> arn = "arn:aws:iam::1:user/erin"
    >>> principal_of({"influencers": [{"influencer_field_name": "aws.cloudtrail.user_identity.arn",
    ...                                "influencer_field_values": [arn]}]})
    'arn:aws:iam::1:user/erin'
    >>> principal_of({"user": {"name": ["erin"]}}), principal_of({})
    ('erin', '-')
    """
    values = {
        i.get("influencer_field_name"): i.get("influencer_field_values") or []
        for i in doc.get("influencers") or []
        if isinstance(i, dict)
    }
    user = doc.get("user") if isinstance(doc.get("user"), dict) else {}
    for name in PRINCIPAL_FIELDS:
        found = values.get(name) or _listed(user.get(name.split(".", 1)[1]) if user else None)
        if found:
            return str(found[0])
    partition = doc.get("partition_field_value")
    return str(partition) if partition else NO_KEY


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


GROUP_KEYS: dict[str, Callable[[AlertRow], str]] = {
    "principal": lambda a: principal_of(a.doc),
    "rule": lambda a: a.rule_name,
}


def group_alerts(rows: Iterable[AlertRow], by: str) -> list[AlertGroup]:
    """``rows`` grouped by ``by`` (a key of :data:`GROUP_KEYS`), highest score first."""
    key_of = GROUP_KEYS[by]
    groups: dict[str, AlertGroup] = {}
    for row in rows:
        key = key_of(row)
        groups.setdefault(key, AlertGroup(key)).alerts.append(row)
    return sorted(groups.values(), key=lambda g: (-g.top.record_score, -g.last.timestamp(), g.key))
