"""Alerts grouped by principal or rule: one line per actor for a burst of alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from trailspike.rules.alerts import AlertRow
from trailspike.rules.grouping import group_alerts, principal_of

T0 = datetime(2026, 12, 4, 13, 0)
ERIN = "arn:aws:iam::1:user/erin"
BOB = "arn:aws:iam::1:user/bob"


def alert(n: int, rule: str, score: float, doc: dict[str, Any], hours: int = 0) -> AlertRow:
    return AlertRow(
        f"uuid{n:02d}",
        "rid",
        rule,
        f"rec{n}",
        "job",
        T0 + timedelta(hours=hours),
        T0,
        "low",
        21,
        score,
        f"reason {n}",
        "open" if n % 2 else "closed",
        None,
        None,
        doc,
    )


def arn(value: str) -> dict[str, Any]:
    return {
        "influencers": [
            {"influencer_field_name": "source.ip", "influencer_field_values": ["10.0.0.1"]},
            {"influencer_field_name": "aws.cloudtrail.user_identity.arn",
             "influencer_field_values": [value]},
        ]
    }  # fmt: skip


def test_a_burst_of_alerts_becomes_one_group_per_principal() -> None:
    rows = [alert(n, "Unusual AWS Command for a User", 80 + n, arn(ERIN)) for n in range(5)]
    rows += [alert(10, "Spike in AWS Error Messages", 95, arn(BOB), hours=2)]
    rows += [alert(11, "Unusual AWS Command for a User", 60, arn(BOB), hours=-1)]
    bob, erin = group_alerts(rows, "principal")  # highest score first
    assert (bob.key, len(bob.alerts), bob.top.alert_uuid) == (BOB, 2, "uuid10")
    assert bob.rules() == {"Spike in AWS Error Messages": 1, "Unusual AWS Command for a User": 1}
    assert (bob.first, bob.last) == (T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    assert (erin.key, len(erin.alerts), erin.top.record_score, erin.open_count()) == (
        ERIN,
        5,
        84,
        2,
    )
    assert erin.as_dict()["alert_ids"] == [f"uuid{n:02d}" for n in range(5)]
    by_rule = group_alerts(rows, "rule")
    assert [(g.key, len(g.alerts)) for g in by_rule] == [
        ("Spike in AWS Error Messages", 1),
        ("Unusual AWS Command for a User", 6),
    ]


def test_principal_falls_back_to_user_fields_then_partition() -> None:
    assert principal_of(arn(ERIN)) == ERIN
    assert principal_of({"user": {"id": ["AIDA1"]}, "partition_field_value": "x"}) == "AIDA1"
    assert principal_of({"partition_field_value": "Boxford"}) == "Boxford"
    assert principal_of({"influencers": "not a list of dicts"}) == "-"
