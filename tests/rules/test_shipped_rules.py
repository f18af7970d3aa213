"""Every shipped rule loads, matches Elastic's facts, names an existing job and passes its tests."""

from __future__ import annotations

import pytest

from trailspike.rules.inline_tests import run_inline_tests
from trailspike.rules.jobinfo import known_job_ids, shipped_jobs_dir
from trailspike.rules.loader import FILE_PATTERN, load_rules
from trailspike.rules.schema import RISK_BANDS

RULES = load_rules()
LOADED = {item.rule_id: item for item in RULES.items}

# ELASTIC_REFERENCE.md §0 and §1.3: id -> (name, job, threshold, from, tactics).
ELASTIC_FACTS = {
    "78d3d8d9-b476-451d-a9e0-7a5addd70670": (
        "Spike in AWS Error Messages",
        "high_distinct_count_error_message",
        50,
        "now-60m",
        ["TA0007", "TA0004", "TA0008"],
    ),
    "19de8096-e2b0-4bd8-80c9-34a820813fff": (
        "Rare AWS Error Code",
        "rare_error_code",
        50,
        "now-2h",
        ["TA0007", "TA0004", "TA0005", "TA0008", "TA0003", "TA0009"],
    ),
    "809b70d3-e2c3-455e-af1b-2626a5a1a276": (
        "Unusual City For an AWS Command",
        "rare_method_for_a_city",
        50,
        "now-2h",
        ["TA0001", "TA0005"],
    ),
    "dca28dee-c999-400f-b640-50a081cc0fd1": (
        "Unusual Country For an AWS Command",
        "rare_method_for_a_country",
        50,
        "now-2h",
        ["TA0001"],
    ),
    "ac706eae-d5ec-4b14-b4fd-e8ba8086f0e1": (
        "Unusual AWS Command for a User",
        "rare_method_for_a_user_id_ea",
        75,
        "now-2h",
        ["TA0001", "TA0003", "TA0005", "TA0008", "TA0010"],
    ),
}


def test_the_five_rules_ship() -> None:
    assert sorted(RULES.ids()) == sorted(ELASTIC_FACTS)


@pytest.mark.parametrize("rule_id", sorted(LOADED), ids=sorted(LOADED))
def test_rule_matches_elastic_facts(rule_id: str) -> None:
    rule = LOADED[rule_id].rule
    name, job, threshold, lookback, tactics = ELASTIC_FACTS[rule_id]
    assert (rule.name, rule.machine_learning_job_id) == (name, job)
    assert (rule.anomaly_threshold, rule.from_, rule.to, rule.interval) == (
        threshold,
        lookback,
        "now",
        "15m",
    )
    assert (rule.severity, rule.risk_score, rule.max_signals) == ("low", 21, 100)
    assert [t.tactic.id for t in rule.threat] == tactics
    assert LOADED[rule_id].file.metadata.integration == ["aws"]


@pytest.mark.parametrize("rule_id", sorted(LOADED), ids=sorted(LOADED))
def test_severity_agrees_with_risk_score(rule_id: str) -> None:
    rule = LOADED[rule_id].rule
    low, high = RISK_BANDS[rule.severity]
    assert low <= rule.risk_score <= high


@pytest.mark.parametrize("rule_id", sorted(LOADED), ids=sorted(LOADED))
def test_rule_job_exists(rule_id: str) -> None:
    if not any(shipped_jobs_dir().glob("*.json")):
        pytest.skip("no job definitions shipped yet in trailspike/definitions/jobs")
    assert LOADED[rule_id].rule.machine_learning_job_id in known_job_ids()


@pytest.mark.parametrize("rule_id", sorted(LOADED), ids=sorted(LOADED))
def test_file_name_and_guide(rule_id: str) -> None:
    item = LOADED[rule_id]
    assert FILE_PATTERN.match(item.path.name)
    assert item.path.name.startswith("ml_cloudtrail_")
    note = item.rule.note or ""
    assert "trailspike alerts events" in note
    # Our own words: none of Elastic's guide sentences (ELASTIC_REFERENCE.md §1.1).
    assert "CloudTrail logging provides visibility" not in note
    assert "Initiate the incident response process" not in note


@pytest.mark.parametrize("rule_id", sorted(LOADED), ids=sorted(LOADED))
def test_inline_tests_pass(rule_id: str) -> None:
    results = run_inline_tests(LOADED[rule_id])
    failures = [(r.name, r.expected, r.actual) for r in results if not r.passed]
    assert failures == []
