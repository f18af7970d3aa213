"""Whole triages of the two scenarios, and the Markdown/HTML/JSON renderings (escaped)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from triage_world import ALERT_DAY, ALICE, World, build_attack, build_automation_bug

from trailspike.triage.report import (
    STEPS,
    md_escape,
    render_html_fragment,
    render_json,
    render_markdown,
    triage_alert,
)

NOW = datetime(2026, 4, 2)
SETTINGS = {"aws_ip_ranges": ""}
EVIL_MESSAGE = "<script>alert('x')</script> is not authorized | **bold** [link](http://e)"
EVIL_AGENT = '<img src=x onerror="alert(1)">'


def test_attack_triage_is_suspicious_with_every_step(world: World) -> None:
    report = triage_alert(world.con, build_attack(world)[:10], SETTINGS, now=NOW)
    assert [s.name for s in report.steps] == [fn.__name__ for fn in STEPS]
    assert not any(s.finding.startswith("Could not run") for s in report.steps)
    # The world's history starts a little under 30 days before the alert: only that is noted.
    assert [n[:40] for n in report.notes] == ["events are stored from 2026-03-02 08:07 "]
    assert report.verdict.label == "suspicious"
    assert "new country (RU)" in report.verdict.suspicious_reasons
    assert report.verdict.headline.startswith("suspicious: 41 distinct denied")
    assert report.alert.principals == (ALICE.arn,)
    assert report.alert.event_count == 41
    assert report.generated_at == NOW


def test_automation_bug_triage_is_likely_benign(world: World) -> None:
    report = triage_alert(world.con, build_automation_bug(world), SETTINGS, now=NOW)
    assert report.verdict.label == "likely benign"
    assert report.verdict.headline.startswith(
        "likely automation bug: one principal, one repeated message (300 calls)"
    )
    assert "CI user agent" in report.verdict.benign_reasons
    assert report.verdict.suspicious_reasons == ()


def test_every_step_shows_a_query_with_bound_parameters(world: World) -> None:
    report = triage_alert(world.con, build_attack(world), SETTINGS, now=NOW)
    for step in report.steps:
        assert "-- parameters: [" in step.query, step.name
        # Values travel as parameters: the principal never appears inside the SQL text itself.
        for sql in step.query.split("\n\n"):
            assert ALICE.arn not in sql.split("-- parameters:")[0], step.name


def _evil_world(world: World) -> str:
    bucket = ALERT_DAY.replace(hour=9)
    for i in range(3):
        world.event(
            ALICE,
            bucket + timedelta(minutes=i),
            "ListUsers",
            "iam.amazonaws.com",
            error_code="AccessDenied",
            error_message=f"{EVIL_MESSAGE} {i}",
            agent=EVIL_AGENT,
            params={"userName": "<b>x</b>"},
        )
    return world.alert(bucket, arns=[ALICE.arn], ips=[ALICE.ip])


def test_html_fragment_escapes_log_text(world: World) -> None:
    html = render_html_fragment(triage_alert(world.con, _evil_world(world), SETTINGS, now=NOW))
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>x</b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert not re.search(r"\son\w+=", html.replace("onerror=&#34;", ""))


def test_markdown_escapes_log_text(world: World) -> None:
    text = render_markdown(triage_alert(world.con, _evil_world(world), SETTINGS, now=NOW))
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    assert "\\*\\*bold\\*\\*" in text and "\\[link\\]" in text
    # Table rows keep their column count despite the "|" in the message.
    table_lines = [ln for ln in text.splitlines() if ln.startswith("| field |")]
    assert table_lines


def test_query_fence_outlasts_backticks_in_values(world: World) -> None:
    bucket = ALERT_DAY.replace(hour=9)
    world.event(
        ALICE,
        bucket,
        "ListUsers",
        "iam.amazonaws.com",
        error_code="AccessDenied",
        error_message="```\n# injected heading",
    )
    uuid = world.alert(bucket, arns=[ALICE.arn], ips=[ALICE.ip])
    text = render_markdown(triage_alert(world.con, uuid, SETTINGS, now=NOW))
    assert "````sql" in text
    assert "\n# injected heading" not in text


def test_json_rendering_round_trips(world: World) -> None:
    report = triage_alert(world.con, build_automation_bug(world), SETTINGS, now=NOW)
    data = json.loads(render_json(report))
    assert data["verdict"]["label"] == "likely benign"
    assert data["alert"]["bucket_start"] == "2026-03-31T14:00:00+00:00"
    assert [s["name"] for s in data["steps"]] == [s.name for s in report.steps]
    assert data["steps"][0]["evidence"]["rows"][0]["in_alert"] == 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a|b", "a\\|b"), ("<x>", "&lt;x&gt;"), ("line\nbreak", "line break"), ("_u_", "\\_u\\_")],
)
def test_md_escape(text: str, expected: str) -> None:
    assert md_escape(text) == expected


def test_a_failing_step_is_reported_not_fatal(world: World, monkeypatch) -> None:
    from trailspike.triage import report as report_module

    def broken(ctx):  # a step that trips over odd data
        raise ValueError("odd data")

    monkeypatch.setattr(report_module, "STEPS", (broken, *report_module.STEPS[1:]))
    report = triage_alert(world.con, build_automation_bug(world), SETTINGS, now=NOW)
    assert report.steps[0].finding == "Could not run this step: ValueError: odd data"
    assert report.notes == ("step broken failed: ValueError: odd data",)


def test_a_flood_from_hundreds_of_principals_gives_a_readable_report(world: World) -> None:
    # 600 principals at 600 addresses, 1,200 denials for different objects. Every principal
    # and address was listed in the header and in each step's parameters: 1.3 MB of Markdown
    # for a flood of 20,000 events.
    bucket = ALERT_DAY.replace(hour=14)
    people = [
        replace(
            ALICE,
            arn=f"arn:aws:iam::111111111111:user/u{i}",
            user=f"u{i}",
            ip=f"203.0.{i // 250}.{i % 250 + 1}",
        )
        for i in range(600)
    ]
    for k in range(1200):
        who = people[k % 600]
        world.event(
            who,
            bucket + timedelta(seconds=k * 0.7),
            "GetObject",
            error_code="AccessDenied",
            error_message=f"Access Denied for object obj-{k:06x}",
        )
    uuid = world.alert(
        bucket, arns=[p.arn for p in people], ips=[p.ip for p in people], actual=1200.0
    )
    report = triage_alert(world.con, uuid, SETTINGS, now=NOW)
    text = render_markdown(report)
    assert "… and 590 more (600 in all)" in text
    assert "actual 1,200 vs typical" in text
    assert len(text) < 60_000
    assert any('"… [cut: 600 values]"' in s.query for s in report.steps)
    assert not any("user/u599" in s.query for s in report.steps)
    assert "u599" not in render_html_fragment(report)


def test_a_history_shorter_than_the_steps_read_is_noted(world: World) -> None:
    uuid = build_attack(world)[:10]
    world.con.execute("DELETE FROM events WHERE ts < ?", [datetime(2026, 3, 20)])
    report = triage_alert(world.con, uuid, SETTINGS, now=NOW)
    assert report.notes == (
        "events are stored from 2026-03-20 08:07 UTC on (the trail's start, or "
        "events_retention): the 30-day histories and the cadence begin there, so 'never seen "
        "before' means not since then",
    )
    assert "events are stored from 2026-03-20" in render_markdown(report)
