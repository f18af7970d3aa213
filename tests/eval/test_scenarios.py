"""Scenario scorecard logic on constructed alerts, and reading alerts from a real store."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
from rich.console import Console

from trailspike.eval.scenarios import (
    SPIKE_JOB,
    AlertRow,
    load_alert_rows,
    render_scorecard,
    score_scenarios,
)

BOB = "arn:aws:iam::210987654321:user/bob"
ETL = "arn:aws:sts::210987654321:assumed-role/etl-batch-job/etl-batch"
SPIKE = "Spike in AWS Error Messages"
USER = "Unusual AWS Command for a User"
T0 = datetime(2026, 11, 16)


def _labels() -> dict[str, Any]:
    return {
        "world": {"start": "2026-11-16T00:00:00", "end": "2026-11-30T00:00:00"},
        "scenarios": [
            {
                "id": 1,
                "name": "stolen-key",
                "malicious": True,
                "start": "2026-11-25T03:12:00Z",
                "end": "2026-11-25T03:50:00Z",
                "principals": [BOB],
                "expected_jobs": [SPIKE_JOB],
                "expected_rules": [SPIKE],
            },
            {
                "id": 4,
                "name": "automation-bug",
                "malicious": False,
                "start": "2026-11-20T10:20:00Z",
                "end": "2026-11-20T14:35:00Z",
                "principals": [ETL],
                "expected_jobs": [],
                "expected_rules": [],
                "must_not_alert_jobs": [SPIKE_JOB],
            },
        ],
    }


def _alert(
    n: int,
    rule: str,
    job: str,
    bucket: datetime,
    created: datetime,
    text: str = "",
    span: int = 900,
) -> AlertRow:
    return AlertRow(f"a{n}", f"r-{job}", rule, job, bucket, created, 80.0, span, text)


def _scenario(card: Any, sid: int) -> Any:
    return next(s for s in card.scenarios if s.id == sid)


def test_scenario_caught_by_expected_rule_within_30_minutes() -> None:
    alerts = [
        _alert(
            1,
            SPIKE,
            SPIKE_JOB,
            datetime(2026, 11, 25, 3, 0),
            datetime(2026, 11, 25, 3, 30),
            f'{{"influencers": ["{BOB}"]}}',
        )
    ]
    card = score_scenarios(_labels(), alerts)
    s = _scenario(card, 1)
    assert s.outcome == "caught"
    assert s.delay == timedelta(minutes=18)
    assert s.rules_alerted == {SPIKE: 1}
    assert all(g.ok for g in card.goals)


def test_late_and_missed_scenarios() -> None:
    late = [
        _alert(
            1, SPIKE, SPIKE_JOB, datetime(2026, 11, 25, 3, 30), datetime(2026, 11, 25, 4, 0), BOB
        )
    ]
    assert _scenario(score_scenarios(_labels(), late), 1).outcome == "late"
    card = score_scenarios(_labels(), [])
    assert _scenario(card, 1).outcome == "missed"
    goal = next(g for g in card.goals if "scenario 1" in g.text)
    assert not goal.ok and "no alert" in goal.evidence


def test_alert_by_an_unexpected_rule_is_listed_but_does_not_count_as_caught() -> None:
    alerts = [
        _alert(
            1,
            USER,
            "rare_method_for_a_user_id_ea",
            datetime(2026, 11, 25, 3, 0),
            datetime(2026, 11, 25, 4, 10),
            "user/bob",
            span=3600,
        )
    ]
    s = _scenario(score_scenarios(_labels(), alerts), 1)
    assert s.rules_alerted == {USER: 1}
    assert s.outcome == "missed"


def test_alert_at_the_right_time_for_another_principal_is_not_attributed() -> None:
    other = "arn:aws:iam::210987654321:user/alice"
    alerts = [
        _alert(
            1, SPIKE, SPIKE_JOB, datetime(2026, 11, 25, 3, 15), datetime(2026, 11, 25, 3, 35), other
        )
    ]
    card = score_scenarios(_labels(), alerts)
    assert _scenario(card, 1).alerts == []
    assert card.weeks[1].per_rule == {SPIKE: 1}


def test_bucket_overlapping_the_start_counts_but_an_earlier_one_does_not() -> None:
    before = _alert(
        1, SPIKE, SPIKE_JOB, datetime(2026, 11, 25, 2, 45), datetime(2026, 11, 25, 3, 10), BOB
    )
    overlapping = _alert(
        2, SPIKE, SPIKE_JOB, datetime(2026, 11, 25, 3, 0), datetime(2026, 11, 25, 3, 25), BOB
    )
    s = _scenario(score_scenarios(_labels(), [before, overlapping]), 1)
    assert [a.alert_uuid for a in s.alerts] == ["a2"]


def test_spike_alert_on_benign_scenario_fails_its_goal_and_counts_as_benign_time() -> None:
    alerts = [
        _alert(
            1, SPIKE, SPIKE_JOB, datetime(2026, 11, 20, 11, 0), datetime(2026, 11, 20, 11, 30), ETL
        ),
        _alert(
            2,
            USER,
            "rare_method_for_a_user_id_ea",
            datetime(2026, 11, 20, 10, 0),
            datetime(2026, 11, 20, 11, 15),
            ETL,
            span=3600,
        ),
    ]
    card = score_scenarios(_labels(), alerts)
    s = _scenario(card, 4)
    assert s.outcome == "noisy" and len(s.forbidden) == 1
    goal = next(g for g in card.goals if "benign scenario 4" in g.text)
    assert not goal.ok
    assert card.weeks[0].per_rule == {SPIKE: 1, USER: 1}


def test_benign_weeks_allow_one_spike_alert_each() -> None:
    alerts = [
        _alert(
            i,
            SPIKE,
            SPIKE_JOB,
            T0 + timedelta(days=d, hours=5),
            T0 + timedelta(days=d, hours=5, minutes=30),
            "someone",
        )
        for i, d in enumerate((1, 2, 9))
    ]
    card = score_scenarios(_labels(), alerts, rule_names=[USER])
    weeks = [g for g in card.goals if g.text.startswith("week")]
    assert [g.ok for g in weeks] == [False, True]
    assert [w.per_rule.get(SPIKE, 0) for w in card.weeks] == [2, 1]
    assert card.rules == sorted([SPIKE, USER])


def test_render_and_json_show_every_scenario() -> None:
    alerts = [
        _alert(
            1, SPIKE, SPIKE_JOB, datetime(2026, 11, 25, 3, 0), datetime(2026, 11, 25, 3, 30), BOB
        )
    ]
    card = score_scenarios(_labels(), alerts)
    console = Console(record=True, width=200)
    console.print(render_scorecard(card))
    text = console.export_text()
    assert "stolen-key" in text and "automation-bug" in text and "caught" in text
    data = card.to_dict()
    assert data["scenarios"][0]["delay_minutes"] == 18.0
    assert {w["week"] for w in data["benign_weeks"]} == {1, 2}


def test_load_alert_rows_joins_the_record(store: duckdb.DuckDBPyConnection) -> None:
    now = datetime(2026, 11, 25, 4)
    store.execute(
        "INSERT INTO records (record_id, job_id, timestamp, bucket_span, detector_index, "
        "function, function_description, probability, record_score, initial_record_score, "
        "influencers, created_at) VALUES ('rec1', 'rare_error_code', ?, 3600, 0, 'rare', 'rare', "
        "0.001, 77, 77, ?, ?)",
        [datetime(2026, 11, 25, 3), f'[{{"influencer_field_values": ["{BOB}"]}}]', now],
    )
    store.execute(
        "INSERT INTO alerts (alert_uuid, rule_id, rule_name, record_id, job_id, original_time, "
        "created_at, severity, risk_score, record_score, reason, doc) VALUES "
        "('u1', 'r1', 'Rare AWS Error Code', 'rec1', 'rare_error_code', ?, ?, 'low', 21, 77, "
        "'reason', '{}')",
        [datetime(2026, 11, 25, 3), now],
    )
    (row,) = load_alert_rows(store)
    assert row.bucket_span == 3600 and row.bucket_end == datetime(2026, 11, 25, 4)
    assert BOB in row.text and row.rule_name == "Rare AWS Error Code"


def test_alert_raised_before_its_bucket_ended_is_timed_when_the_bucket_is_final() -> None:
    # A backfill after the jobs scored everything can raise it at the bucket's start.
    early = _alert(
        1, SPIKE, SPIKE_JOB, datetime(2026, 11, 25, 3, 15), datetime(2026, 11, 25, 3, 15), BOB
    )
    s = _scenario(score_scenarios(_labels(), [early]), 1)
    assert s.first_expected is not None
    assert s.first_expected.when == datetime(2026, 11, 25, 3, 45)
    assert s.delay == timedelta(minutes=33) and s.outcome == "late"


def test_early_alert_is_timed_from_the_data_it_saw_not_its_bucket_end():
    from trailspike.eval.scenarios import detection_time

    bucket = datetime(2026, 11, 25, 3)
    final = AlertRow("a", "r", USER, "j", bucket, bucket, 80.0, 3600)
    early = AlertRow(
        "b", "r", USER, "j", bucket, bucket, 80.0, 3600, data_end=bucket + timedelta(minutes=13)
    )
    delay, every = timedelta(minutes=2), timedelta(minutes=15)
    # A final record of an hour bucket exists after 04:02: the 04:15 execution.
    assert detection_time(final, T0, delay, every) == datetime(2026, 11, 25, 4, 15)
    # An early result seen up to 03:13 exists from 03:15: that execution.
    assert detection_time(early, T0, delay, every) == datetime(2026, 11, 25, 3, 15)
