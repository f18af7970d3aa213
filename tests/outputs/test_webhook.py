"""Webhook output against a real HTTP server on 127.0.0.1: payloads, retries, backoff, failures."""

from __future__ import annotations

import json

from outputs_fakes import serve

from trailspike.outputs.webhook import WebhookOutput, slack_payload

DOC = {
    "kibana.alert.uuid": "u1" * 32,
    "kibana.alert.rule.name": "Spike in AWS Error Messages",
    "kibana.alert.severity": "low",
    "kibana.alert.reason": "37 distinct error messages <https://evil.example|click> & more",
    "record_score": 87.4,
}


def test_json_payload_is_the_alert_document() -> None:
    with serve() as (url, rec):
        out = WebhookOutput(url + "/hook", sleep=lambda s: None)
        assert out.send([DOC, DOC]) == [None, None]
        out.close()
    assert len(rec.requests) == 2
    method, path, headers, body = rec.requests[0]
    assert (method, path) == ("POST", "/hook")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == DOC


def test_slack_payload_escapes_log_text() -> None:
    with serve() as (url, rec):
        out = WebhookOutput(url, payload="slack", sleep=lambda s: None)
        assert out.send([DOC]) == [None]
    text = json.loads(rec.requests[0][3])["text"]
    assert text.startswith("*Spike in AWS Error Messages* (low, score 87)")
    assert "&lt;https://evil.example|click&gt; &amp; more" in text
    assert "<https://evil" not in text
    assert slack_payload(DOC) == json.loads(rec.requests[0][3])


def test_retries_server_errors_with_exponential_backoff() -> None:
    waits: list[float] = []
    with serve() as (url, rec):
        rec.statuses = [503, 502]
        out = WebhookOutput(url, retries=3, backoff=0.25, sleep=waits.append)
        assert out.send([DOC]) == [None]
    assert len(rec.requests) == 3
    assert waits == [0.25, 0.5]


def test_retry_after_is_honoured() -> None:
    waits: list[float] = []
    with serve() as (url, rec):
        rec.statuses = [429]
        rec.headers_out = {"Retry-After": "2"}
        out = WebhookOutput(url, retries=2, sleep=waits.append)
        assert out.send([DOC]) == [None]
    assert waits == [2.0]


def test_gives_up_after_the_attempts_and_reports_why() -> None:
    with serve() as (url, rec):
        rec.statuses = [500, 500, 500]
        out = WebhookOutput(url, retries=3, sleep=lambda s: None)
        (error,) = out.send([DOC])
    assert error is not None and "HTTP 500" in error and "after 3 attempts" in error


def test_client_errors_are_not_retried() -> None:
    with serve() as (url, rec):
        rec.statuses = [404]
        out = WebhookOutput(url, retries=3, sleep=lambda s: None)
        assert out.send([DOC]) == [f"HTTP 404 from {url}"]
    assert len(rec.requests) == 1


def test_connection_refused_is_an_error_not_a_crash() -> None:
    with serve() as (url, _):
        pass  # the server is gone: the port refuses connections
    out = WebhookOutput(url, retries=2, sleep=lambda s: None)
    (error,) = out.send([DOC])
    assert error is not None and "ConnectError" in error


def test_a_down_endpoint_does_not_stall_the_batch() -> None:
    waits: list[float] = []
    with serve() as (url, rec):
        rec.statuses = [503] * 3
        out = WebhookOutput(url, retries=3, sleep=waits.append)
        outcomes = out.send([DOC] * 50)
    assert len(rec.requests) == 3 and len(waits) == 2  # only the first alert was tried
    assert outcomes[0] is not None and "after 3 attempts" in outcomes[0]
    assert all(o is not None and o.startswith("not tried") for o in outcomes[1:])
    assert len(outcomes) == 50
