"""Custom rules: scope filter lists and numeric conditions decide skip_result/skip_model_update."""

from __future__ import annotations

import pytest

from trailspike.jobs.custom_rules import rule_actions
from trailspike.jobs.schema import Detector

FILTERS = {"automation": ("svc-backup", "svc-ci")}


def detector(*rules: dict) -> Detector:
    return Detector.model_validate(
        {
            "function": "rare",
            "by_field_name": "event.action",
            "partition_field_name": "user.name",
            "custom_rules": list(rules),
        }
    )


@pytest.mark.parametrize(
    ("filter_type", "user", "expected"),
    [
        ("include", "svc-ci", {"skip_result"}),
        ("include", "alice", set()),
        ("exclude", "svc-ci", set()),
        ("exclude", "alice", {"skip_result"}),
    ],
)
def test_scope_include_and_exclude(filter_type: str, user: str, expected: set) -> None:
    det = detector(
        {
            "actions": ["skip_result"],
            "scope": {"user.name": {"filter_id": "automation", "filter_type": filter_type}},
        }
    )
    assert rule_actions(det, FILTERS, (user, "GetObject", ""), 1.0, None) == expected


def test_conditions_all_must_hold_and_typical_needs_a_value() -> None:
    det = Detector.model_validate(
        {
            "function": "high_count",
            "custom_rules": [
                {
                    "actions": ["skip_model_update"],
                    "conditions": [
                        {"applies_to": "actual", "operator": "gte", "value": 100},
                        {"applies_to": "diff_from_typical", "operator": "gt", "value": 50},
                    ],
                }
            ],
        }
    )
    key = ("", "", "")
    assert rule_actions(det, {}, key, 200.0, 10.0) == {"skip_model_update"}
    assert rule_actions(det, {}, key, 200.0, 190.0) == frozenset()
    assert rule_actions(det, {}, key, 99.0, 10.0) == frozenset()
    assert rule_actions(det, {}, key, 200.0, None) == frozenset()
