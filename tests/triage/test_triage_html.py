"""The self-contained HTML report: alerts table, charts from stored series, triage, escaping."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

from triage_world import ALERT_DAY, ALICE, SPIKE_JOB, World, build_attack, build_automation_bug

from trailspike.triage.html import (
    chart_for_alert,
    safe_json,
    severity_of,
    what_happened,
    write_demo_report,
)

SETTINGS = {"aws_ip_ranges": ""}


def _model_plot(world: World, job: str, around: datetime) -> None:
    rows = []
    for i in range(-20, 8):
        ts = around + timedelta(minutes=15 * i)
        rows.append((job, ts, 0, "", "", 0.0, 2.0, 5.0, 40.0 if i == 0 else 2.0))
    world.con.executemany("INSERT INTO model_plot VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _chart_data(html: str) -> dict:
    block = re.search(
        r'<script type="application/json" id="ts-chart-data">(.*?)</script>', html, re.S
    )
    assert block is not None
    return json.loads(block.group(1))


def test_demo_report_is_self_contained_with_charts_and_triage(world: World, tmp_path: Path):
    attack = build_attack(world)
    _model_plot(world, SPIKE_JOB, ALERT_DAY.replace(hour=2))
    path = write_demo_report(world.con, tmp_path / "out" / "report.html", SETTINGS)
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    # No external resources: plotly is inlined, nothing is fetched.
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    assert "Plotly" in html and len(html) > 1_000_000
    assert f'id="alert-{attack}"' in html
    assert "Verdict hint:" in html and "suspicious: 41 distinct denied" in html
    charts = _chart_data(html)
    assert len(charts) == 2  # the spike alert and the country alert
    spike = next(c for c in charts.values() if c["layout"]["title"]["text"].startswith(SPIKE_JOB))
    names = [t["name"] for t in spike["data"]]
    assert names[:4] == ["model upper", "model bounds", "model median", "actual"]
    assert any(n.startswith("anomaly, critical") for n in names)
    marker = next(t for t in spike["data"] if t["name"].startswith("anomaly, critical"))
    assert marker["y"] == [40.0] and marker["marker"]["color"] == "#fe5050"


def test_jobs_without_model_plot_chart_the_bucket_scores(world: World, tmp_path: Path):
    uuid = build_automation_bug(world)
    alert = world.con.execute(
        "SELECT alert_uuid, job_id, record_id, original_time FROM alerts WHERE alert_uuid = ?",
        [uuid],
    ).fetchone()
    t = alert[3]
    world.con.executemany(
        "INSERT INTO buckets VALUES (?, ?, 900, ?, ?, 10, false)",
        [(SPIKE_JOB, t + timedelta(minutes=15 * i), s, s) for i, s in ((-1, 1.0), (0, 80.0))],
    )
    chart = chart_for_alert(
        world.con,
        {"alert_uuid": alert[0], "job_id": alert[1], "record_id": alert[2], "original_time": t},
        "title",
    )
    assert chart["data"][0]["name"] == "bucket anomaly score"
    assert chart["data"][0]["y"] == [1.0, 80.0]
    assert chart["data"][1]["y"] == [80.0]  # the record's score
    assert not chart["empty"]


def test_report_escapes_log_text_everywhere(world: World, tmp_path: Path) -> None:
    bucket = ALERT_DAY.replace(hour=9)
    evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    for i in range(2):
        world.event(
            ALICE,
            bucket + timedelta(minutes=i),
            "ListUsers",
            "iam.amazonaws.com",
            error_code="AccessDenied",
            error_message=f"{evil}{i}",
            agent=evil,
        )
    world.alert(bucket, arns=[ALICE.arn, evil], ips=[ALICE.ip], rule_name=evil)
    html = write_demo_report(world.con, tmp_path / "r.html", SETTINGS).read_text()
    body = html.split('<script type="application/json"')[0]
    assert "<script" not in body and "<img" not in body
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x" in body
    # Only our three script blocks exist: the data block, plotly, and the drawing code.
    assert html.count("<script") == 3


def test_empty_store_still_writes_a_page(world: World, tmp_path: Path) -> None:
    html = write_demo_report(world.con, tmp_path / "r.html", SETTINGS).read_text()
    assert "No alerts in this store." in html
    assert _chart_data(html) == {}


def test_report_triages_only_the_highest_scoring_alerts(world: World, tmp_path: Path) -> None:
    build_attack(world)
    html = write_demo_report(world.con, tmp_path / "r.html", SETTINGS, max_triaged=1).read_text()
    assert html.count('class="alert-block"') == 1
    assert "cover the 1 highest-scoring alerts of 2" in html


def test_every_alert_row_says_what_happened(world: World, tmp_path: Path) -> None:
    build_attack(world)
    reasons = dict(world.con.execute("SELECT rule_name, reason FROM alerts").fetchall())
    html = write_demo_report(world.con, tmp_path / "r.html", SETTINGS, max_triaged=1).read_text()
    listed = html.split("<h2>Alerts</h2>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr><td>(.*?)</tr>", listed, re.S)
    assert len(rows) == 2
    for row in rows:  # the triaged alert's and the other's: the reason without the rule's name
        rule = next(name for name in reasons if f">{escape(name)}</td>" in row)
        assert escape(reasons[rule].removeprefix(f"{rule}: ")) in row
    # Above the list, one line per principal: both alerts are about Alice.
    summary = html.split("<h2>By principal</h2>")[1].split("</table>")[0]
    assert re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td>", summary) == [(escape(ALICE.arn), "2")]
    # Our rules' reasons start with the rule's name, which the row shows already.
    reason = "Spike in AWS Error Messages: 16 distinct error messages in 15 min (typical 2.0)"
    what = what_happened({"rule_name": "Spike in AWS Error Messages", "reason": reason})
    assert what == "16 distinct error messages in 15 min (typical 2.0)"
    assert what_happened({"rule_name": "x", "reason": None}) == ""
    # Only the triaged alert links to a block below; the other has none to link to.
    assert sum('href="#alert-' in row for row in rows) == 1


def test_safe_json_and_severity_helpers() -> None:
    assert "<" not in safe_json({"a": "</script>"})
    assert json.loads(safe_json({"a": "</script>&"})) == {"a": "</script>&"}
    assert [severity_of(s)[0] for s in (99, 60, 30, 5, 1)] == [
        "critical",
        "major",
        "minor",
        "warning",
        "low",
    ]
