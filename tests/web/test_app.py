"""HTTP-level tests of the app: pages, headers, CSRF, token, host checks, escaping, busy store."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from starlette.testclient import TestClient
from webworld import (
    ATTACKER_ARN,
    JOB,
    PART_JOB,
    RULE,
    XSS_ARN,
    XSS_IMG,
    XSS_MESSAGE,
    build_world,
    record_id,
    web_settings,
)

from trailspike.core.errors import ConfigError
from trailspike.store.db import open_store
from trailspike.web.app import check_binding, create_app, plotly_js_path
from trailspike.web.security import CSRF_COOKIE, TOKEN_COOKIE

PAGES = [
    "/",
    "/jobs",
    f"/jobs/{JOB}",
    f"/jobs/{JOB}?range=all&record={record_id(JOB, 240)}",
    f"/jobs/{PART_JOB}?range=all&partition=Lagos",
    "/alerts",
    "/alerts?status=open&principal=mallory",
    "/alerts?group=principal",
    "/alerts?group=rule&status=open",
    "/rules",
    f"/rules/{RULE}",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_strict_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    # no inline executable script: every <script> either loads a same-origin file or is JSON data
    for tag in re.findall(r"<script[^>]*>", response.text):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag


def test_hostile_log_text_is_escaped_in_html_and_json(client: TestClient, world) -> None:
    alert_page = client.get(f"/alerts/{world[1][0]}").text
    explorer = client.get(f"/jobs/{JOB}?range=all&record={record_id(JOB, 240)}").text
    grouped = client.get("/alerts?group=principal").text  # the top reason names XSS_ARN
    for page in (alert_page, explorer, grouped):
        assert "<script>window.__pwned" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;window.__pwned" in page
    assert "&lt;img src=x onerror=" in explorer  # the message is shown, as text
    # inside JSON data blocks the payload cannot close the block
    blocks = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', explorer, re.S)
    assert blocks and all("<" not in block for block in blocks)
    assert "\\u003cscript\\u003e" in "".join(blocks)


def test_overview_shows_ingest_jobs_rules_and_warnings(client: TestClient) -> None:
    page = client.get("/").text
    assert "file1.json.gz" in page  # last file read
    assert "eventTime missing" in page  # quarantine reason
    assert JOB in page and PART_JOB in page
    assert "is behind" in page  # the rule's last warning
    assert "&lt;img src=x" in page  # the warning's hostile text, escaped
    assert "42 cycles" in page and "webhook output failed: &lt;img" in page  # service state
    assert "retention: deleted 1,234 events at 2026-11-03 00:05" in page
    assert "cycle of 2026-11-03 22:00 UTC" in page and "3 events dated &lt;img" in page
    # Open alerts one line per principal: the attacker's two open spike alerts.
    groups = page.split('id="open-groups"')[1].split("</table>")[0]
    assert groups.count("<tr><td") == 1
    assert f'/alerts?principal={quote_plus(ATTACKER_ARN)}&amp;status=open">' in groups
    assert re.search(r'<td class="n">2</td>', groups)


def test_alert_filters(client: TestClient) -> None:
    everything = client.get("/alerts").text
    assert everything.count('href="/alerts/') == 3
    acknowledged = client.get("/alerts?status=acknowledged").text
    assert acknowledged.count('href="/alerts/') == 1
    by_rule = client.get(f"/alerts?rule={RULE}").text
    assert by_rule.count('href="/alerts/') == 2
    nobody = client.get("/alerts?principal=nobody-at-all").text
    assert "No alerts match" in nobody
    window = client.get("/alerts?from=2026-11-03T11:00&to=2026-11-04").text
    assert window.count('href="/alerts/') == 1  # only bucket 240 (2026-11-03 12:00) is inside
    assert client.get("/alerts?from=yesterday").status_code == 400


def _group_rows(page: str) -> list[str]:
    table = page.split('id="alert-groups"')[1].split("</table>")[0]
    return re.findall(r"<tr>\s*<td class=\"group-key\">(.*?)</tr>", table, re.S)


def test_alerts_grouped_by_principal_and_by_rule(client: TestClient) -> None:
    by_principal = client.get("/alerts?group=principal&status=open").text
    rows = _group_rows(by_principal)
    # The two open spike alerts name the attacker first: one group, linked to its alerts.
    assert len(rows) == 1 and "2 alerts in 1 group" in by_principal
    assert f"/alerts?status=open&amp;principal={quote_plus(ATTACKER_ARN)}" in rows[0]
    assert re.search(r'<td class="n">2</td><td class="n">2</td>', rows[0])
    assert 'id="alert-table"' not in by_principal
    by_rule = client.get("/alerts?group=rule").text
    rules = _group_rows(by_rule)
    assert len(rules) == 2 and "3 alerts in 2 groups" in by_rule
    assert f"/alerts?rule={RULE}" in rules[0]  # the spike rule: its score 91.5 is the top
    assert "Spike in AWS Error Messages ×2" in rules[0]
    # A group's link lists the same alerts as the grouped view counted.
    listed = client.get(f"/alerts?status=open&principal={quote_plus(ATTACKER_ARN)}").text
    assert listed.count('href="/alerts/') == 2
    assert client.get("/alerts?group=city").status_code == 400


def test_record_fragment_and_redirect(client: TestClient) -> None:
    rid = record_id(JOB, 240)
    fragment = client.get(f"/jobs/{JOB}/records/{rid}", headers={"X-Fragment": "1"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "Source events" in fragment.text
    assert "14 of 14" in fragment.text
    assert 'href="/alerts/00' in fragment.text  # the alert raised for this anomaly
    plain = client.get(f"/jobs/{JOB}/records/{rid}", follow_redirects=False)
    assert plain.status_code == 303 and f"record={rid}" in plain.headers["location"]
    missing = client.get(f"/jobs/{JOB}/records/nope", headers={"X-Fragment": "1"})
    assert missing.status_code == 404


def test_unknown_pages_are_404_in_layout(client: TestClient) -> None:
    for path in ("/jobs/no_such_job", "/alerts/nope", "/rules/nope", "/nothing-here"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "<nav>" in response.text


def _csrf(client: TestClient) -> str:
    client.get("/")
    token = client.cookies.get(CSRF_COOKIE)
    assert token
    return token


def test_acknowledge_and_close_need_the_csrf_token(client: TestClient, world) -> None:
    target = world[1][1]
    url = f"/alerts/{target}/status"
    token = _csrf(client)
    missing = client.post(url, data={"action": "acknowledge"})
    assert missing.status_code == 403
    wrong = client.post(url, data={"action": "acknowledge", "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    cross_site = client.post(
        url,
        data={"action": "acknowledge", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert "status-open" in client.get(f"/alerts/{target}").text
    ok = client.post(
        url,
        data={"action": "acknowledge", "csrf_token": token},
        headers={"Origin": "http://127.0.0.1:8000"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert (
        'id="alert-status"><span class="status status-acknowledged"'
        in client.get(f"/alerts/{target}").text
    )
    no_reason = client.post(url, data={"action": "close", "csrf_token": token})
    assert no_reason.status_code == 400
    closed = client.post(
        url, data={"action": "close", "reason": "false_positive", "csrf_token": token}
    )
    assert closed.status_code == 200  # followed the redirect
    assert "status-closed" in closed.text and "false_positive" in closed.text
    reopened = client.post(url, data={"action": "reopen", "csrf_token": token})
    assert "status-open" in reopened.text


def test_plotly_is_served_from_the_installed_package(client: TestClient) -> None:
    response = client.get("/static/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert len(response.content) == plotly_js_path().stat().st_size
    assert client.get("/static/app.js").status_code == 200


def test_a_token_is_required_beyond_loopback(world) -> None:
    with pytest.raises(ConfigError, match="token"):
        check_binding({"host": "0.0.0.0", "token": ""})
    with pytest.raises(ConfigError):
        create_app(web_settings(world[0], host="192.0.2.10"))
    check_binding({"host": "::1", "token": ""})


def test_token_gate(world) -> None:
    app = create_app(web_settings(world[0], host="0.0.0.0", token="s3cret-token"))
    with TestClient(app, base_url="http://192.0.2.10:8000") as anon:
        first = anon.get("/alerts", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"].startswith("/login")
        assert anon.get("/static/app.js").status_code == 401
        bad = anon.post("/login?next=/alerts", data={"token": "guess"})
        assert bad.status_code == 401
        good = anon.post("/login?next=/alerts", data={"token": "s3cret-token"})
        assert good.status_code == 200 and "<h1>Alerts</h1>" in good.text
        assert anon.cookies.get(TOKEN_COOKIE) not in (None, "s3cret-token")
    with TestClient(app, base_url="http://192.0.2.10:8000") as bearer:
        headers = {"Authorization": "Bearer s3cret-token"}
        assert bearer.get("/rules", headers=headers).status_code == 200
        assert (
            bearer.get(
                "/rules", headers={"Authorization": "Bearer no"}, follow_redirects=False
            ).status_code
            == 303
        )
    with TestClient(app, base_url="http://192.0.2.10:8000") as link:
        swapped = link.get("/alerts?status=open&token=s3cret-token", follow_redirects=False)
        assert swapped.status_code == 303 and swapped.headers["location"] == "/alerts?status=open"
        assert link.get("/alerts?status=open").status_code == 200


def test_loopback_ui_refuses_foreign_host_names(client: TestClient) -> None:
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example
    response = client.get("/", headers={"Host": "evil.example:8000"})
    assert response.status_code == 421


def test_missing_store_is_explained(tmp_path: Path) -> None:
    app = create_app(web_settings(tmp_path / "absent" / "x.duckdb"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as missing:
        response = missing.get("/")
    assert response.status_code == 503
    assert "does not exist yet" in response.text


def test_busy_store_is_explained(tmp_path: Path, world) -> None:
    copy = tmp_path / "busy.duckdb"
    copy.write_bytes(world[0].read_bytes())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " time.sleep(30)",
            str(copy),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        app = create_app(web_settings(copy))
        with TestClient(app, base_url="http://127.0.0.1:8000") as busy:
            response = busy.get("/alerts")
        assert response.status_code == 503
        assert "open for writing by another process" in response.text
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    app = create_app(web_settings(copy))
    with TestClient(app, base_url="http://127.0.0.1:8000") as free:
        assert free.get("/alerts").status_code == 200


def test_attacker_arn_is_offered_as_a_filter_link(client: TestClient) -> None:
    page = client.get(f"/jobs/{JOB}?range=all&record={record_id(JOB, 240)}").text
    assert "/alerts?principal=arn%3Aaws%3Aiam%3A%3A123456789012%3Auser%2Fmallory" in page
    assert ATTACKER_ARN in page and XSS_ARN not in page and XSS_MESSAGE not in page
    assert XSS_IMG not in page


def test_rule_page_shows_definition_exceptions_and_executions(client: TestClient) -> None:
    page = client.get(f"/rules/{RULE}").text
    assert "Spike in AWS Error Messages" in page
    assert f'href="/jobs/{JOB}"' in page  # the rule's job, from the shipped definition
    assert "anomaly_threshold" in page
    assert "deploy runner" in page and "198.51.100.7" in page  # stored exception item
    assert "retries of the deploy pipeline &lt;img" in page
    assert page.count("<tr><td>2026-11-03") >= 3  # three executions


def test_rules_and_jobs_pages_list_shipped_definitions(client: TestClient) -> None:
    rules = client.get("/rules").text
    for name in ("Spike in AWS Error Messages", "Rare AWS Error Code", "Unusual City"):
        assert name in rules
    jobs = client.get("/jobs").text
    for job in (JOB, PART_JOB, "rare_error_code"):
        assert f'href="/jobs/{job}"' in jobs
    assert "high_distinct_count(aws.cloudtrail.error_message)" in jobs


def test_rare_partitioned_job_shows_the_partition_events_per_bucket(client: TestClient) -> None:
    everything = client.get(f"/jobs/{PART_JOB}?range=all").text
    assert '<option value="" selected' in everything  # rare jobs open on all partitions
    assert 'value="Lagos"' in everything and 'value="Seattle"' in everything
    lagos = client.get(f"/jobs/{PART_JOB}?range=all&partition=Lagos").text
    block = re.search(r'id="series-chart-data">(.*?)</script>', lagos, re.S)
    assert block is not None
    figure = json.loads(block.group(1))
    line = figure["data"][0]
    assert line["name"] == "events per bucket"
    nonzero = sorted(y for y in line["y"] if y)
    assert nonzero == [1, 14]  # Lagos events: bucket 230 and the spike bucket 240
    assert len(line["y"]) == 240 - 230 + 3  # every bucket between, one empty one each side
    markers = [t for t in figure["data"] if t.get("mode") == "markers"]
    assert [len(t["x"]) for t in markers] == [1]  # only Lagos's anomaly (77), not Seattle's


def test_alert_of_a_rare_job_charts_its_partition(client: TestClient, world) -> None:
    page = client.get(f"/alerts/{world[1][2]}").text  # the Lagos anomaly of PART_JOB
    block = re.search(r'id="series-chart-data">(.*?)</script>', page, re.S)
    assert block is not None
    line = json.loads(block.group(1))["data"][0]
    assert sorted(y for y in line["y"] if y) == [1, 14]  # Lagos's events, not the whole job's


def test_embedded_in_a_process_that_owns_the_store(tmp_path: Path, world) -> None:
    from trailspike.store.db import open_store

    copy = tmp_path / "owned.duckdb"
    copy.write_bytes(world[0].read_bytes())
    owner = open_store(copy)  # the service's own read-write connection
    try:
        app = create_app(web_settings(copy), con=owner)
        with TestClient(app, base_url="http://127.0.0.1:8000") as embedded:
            assert embedded.get("/").status_code == 200
            token = _csrf(embedded)
            target = world[1][0]
            response = embedded.post(
                f"/alerts/{target}/status", data={"action": "acknowledge", "csrf_token": token}
            )
            assert "status-acknowledged" in response.text
        row = owner.execute(
            "SELECT workflow_status FROM alerts WHERE alert_uuid = ?", [target]
        ).fetchone()
        assert row == ("acknowledged",)
    finally:
        owner.close()


def test_a_repeated_value_record_says_so(tmp_path: Path) -> None:
    # A record the repeat view raised (a stuck value): the panel tells the analyst why, since
    # actual and typical alone look alike. A record without it shows no such line.
    path = tmp_path / "web.duckdb"
    con = open_store(path)
    build_world(con)
    explained = {
        "anomaly_type": "repeated_value",
        "repeated_value": {"buckets": 3, "probability": 2e-6},
    }
    con.execute(
        "UPDATE records SET explanation = ? WHERE record_id = ?",
        [json.dumps(explained), record_id(JOB, 240)],
    )
    con.close()
    with TestClient(create_app(web_settings(path)), base_url="http://127.0.0.1:8000") as c:
        headers = {"X-Fragment": "1"}
        stuck = c.get(f"/jobs/{JOB}/records/{record_id(JOB, 240)}", headers=headers)
        assert "the same value 3 buckets in a row" in stuck.text
        other = c.get(f"/jobs/{JOB}/records/{record_id(JOB, 200)}", headers=headers)
        assert other.status_code == 200 and "Repeated value" not in other.text
