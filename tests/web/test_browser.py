"""The real server in Debian's chromium: every page, charts, clicks, actions, hostile log text.

Screenshots of each page go to ``build/screenshots/`` (a CI artifact to look at).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webworld import JOB, PART_JOB, RULE, XSS_ARN, XSS_MESSAGE, record_id

pytestmark = pytest.mark.browser
# page position of the swimlane cell with the highest overall score (row 0)
CRITICAL_CELL = """(() => {
  const gd = document.getElementById('swimlane-chart');
  const trace = gd.data[0], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const row = trace.z[0];
  const col = row.indexOf(Math.max(...row.filter(v => v !== null)));
  const box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.d2p(trace.x[col]), box.top + ya._offset + ya.d2p(trace.y[0])];
})()"""
MAIN_PLOT = "#series-chart .cartesianlayer .scatterlayer"  # not the range slider's copy


class Watch:
    """What a page did that it should not: console errors, CSP reports, dialogs, exceptions."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning") or "Content Security Policy" in message.text:
            self.problems.append(f"console {message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture(scope="module")
def context(browser: Any, live_server: str) -> Iterator[Any]:
    """One browser context for the module, so plotly.js is fetched and compiled once."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    tab = context.new_page()
    tab.watch = Watch(tab)
    yield tab
    tab.close()


def open_page(page: Any, path: str, shots: Path, name: str) -> None:
    """Load a page, wait until every chart is drawn, save a screenshot, check nothing ran."""
    response = page.goto(path)
    assert response is not None and response.status == 200, path
    charts = page.locator("[data-chart]").count()
    if charts:
        page.wait_for_function(
            "n => document.querySelectorAll('[data-rendered=\"1\"]').length === n", arg=charts
        )
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert_clean(page)


def assert_clean(page: Any) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.watch.dialogs == []
    assert page.watch.problems == []


def test_overview_and_list_pages(page: Any, screenshots: Path) -> None:
    open_page(page, "/", screenshots, "overview")
    assert page.locator("#alerts-chart .barlayer .point path").count() > 0
    assert "eventTime missing" in page.inner_text("main")
    open_page(page, "/alerts", screenshots, "alerts")
    assert page.locator("#alert-table tbody tr").count() == 3
    page.select_option("select[name=status]", "acknowledged")
    page.click("#alert-filters button[type=submit]")
    page.wait_for_url("**/alerts?*status=acknowledged*")
    assert page.locator("#alert-table tbody tr").count() == 1
    open_page(page, "/jobs", screenshots, "jobs")
    assert page.locator("#job-table tbody tr").count() >= 2
    open_page(page, "/rules", screenshots, "rules")
    open_page(page, f"/rules/{RULE}", screenshots, "rule")
    assert "is behind" in page.inner_text("#execution-table")


def test_explorer_chart_has_band_and_severity_markers(page: Any, screenshots: Path) -> None:
    open_page(page, f"/jobs/{JOB}?range=all", screenshots, "explorer")
    traces = page.evaluate(
        "Array.from(document.getElementById('series-chart').data, t => [t.name, t.fill || ''])"
    )
    assert ["model bounds", "tonexty"] in traces
    names = [name for name, _fill in traces]
    for severity in ("critical (≥75)", "major (≥50)", "minor (≥25)", "warning (≥3)"):
        assert severity in names
    # drawn, not just described: the band is a filled path, markers are SVG points
    assert page.locator(f"{MAIN_PLOT} .fills path").count() >= 1
    points = page.locator(f"{MAIN_PLOT} .points path.point")
    assert points.count() == 4  # the score-1.2 record is below the warning band
    colours = page.evaluate(
        "Array.from(document.querySelectorAll('#series-chart .cartesianlayer .points path.point'),"
        " p => p.style.fill)"
    )
    assert "rgb(254, 80, 80)" in colours and "rgb(251, 167, 64)" in colours
    assert page.locator("#swimlane-chart .heatmaplayer image, #swimlane-chart .hm").count() >= 1
    lanes = page.evaluate("document.getElementById('swimlane-chart').data[0].y")
    assert lanes[0] == "overall" and "ip: 203.0.113.66" in lanes
    # clicking the critical cell of the overall lane narrows the anomalies table to it
    x, y = page.evaluate(CRITICAL_CELL)
    page.mouse.move(x, y)
    page.wait_for_selector("#swimlane-chart .hoverlayer .hovertext")
    page.mouse.click(x, y)
    page.wait_for_selector("#cell-filter:not([hidden])")
    visible = page.locator("#anomaly-table tbody tr:not([hidden])")
    assert visible.count() == 1 and "2026-11-03" in visible.inner_text()
    page.click("#cell-filter-clear")
    assert page.locator("#anomaly-table tbody tr:not([hidden])").count() == 4


def test_clicking_an_anomaly_shows_record_and_hostile_events_as_text(
    page: Any, screenshots: Path
) -> None:
    open_page(page, f"/jobs/{JOB}?range=all", screenshots, "explorer-before-click")
    critical = page.evaluate(
        "(() => { const gd = document.getElementById('series-chart');"
        " const i = gd.data.findIndex(t => t.name.startsWith('critical'));"
        " return i; })()"
    )
    assert critical >= 0
    marker = page.locator(f"{MAIN_PLOT} .trace").nth(critical).locator("path.point")
    box = marker.first.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 5, y)
    page.mouse.move(x, y)
    page.wait_for_selector("#series-chart .hoverlayer .hovertext")  # plotly found the point
    page.mouse.click(x, y)
    page.wait_for_selector("#record-panel .record")
    panel = page.inner_text("#record-panel")
    assert "Source events" in panel and "14 of 14" in panel
    assert record_id(JOB, 240) in panel
    events = page.inner_text("#source-events")
    assert XSS_MESSAGE in events  # shown verbatim, as text
    assert "<img src=x onerror=" in events
    assert XSS_ARN in events
    assert page.locator("#record-panel img").count() == 0
    assert page.locator("#record-panel script").count() == 0
    assert f"record={record_id(JOB, 240)}" in page.url
    page.screenshot(path=str(screenshots / "explorer-record.png"), full_page=True)
    assert_clean(page)


def test_partition_chooser(page: Any, screenshots: Path) -> None:
    open_page(page, f"/jobs/{PART_JOB}?range=all", screenshots, "explorer-partitioned")
    assert page.input_value("#partition-select") == ""
    page.select_option("#partition-select", "Lagos")
    page.wait_for_url("**partition=Lagos**")
    page.wait_for_selector("#series-chart[data-rendered='1']")
    counts = page.evaluate("document.getElementById('series-chart').data[0].y")
    assert sorted(c for c in counts if c) == [1, 14]  # the Lagos partition's events per bucket
    assert "range=all" in page.url  # the chooser keeps the chosen range
    assert page.locator(f"{MAIN_PLOT} .points path.point").count() == 1
    page.screenshot(path=str(screenshots / "explorer-partition-lagos.png"), full_page=True)
    assert_clean(page)


def test_acknowledge_then_close_an_alert(page: Any, screenshots: Path, world: Any) -> None:
    alert = world[1][0]
    open_page(page, f"/alerts/{alert}", screenshots, "alert")
    assert page.locator(f"{MAIN_PLOT} .fills path").count() >= 1
    assert "<script>" in page.inner_text("#alert-reason") or "<img" in page.inner_text(
        "#alert-reason"
    )
    page.click("#ack-button")
    page.wait_for_selector("#alert-status .status-acknowledged")
    assert_clean(page)
    page.select_option("#close-reason", "false_positive")
    page.click("#close-button")
    page.wait_for_selector("#alert-status .status-closed")
    assert "false_positive" in page.inner_text("#alert-status")
    page.screenshot(path=str(screenshots / "alert-closed.png"), full_page=True)
    assert_clean(page)
