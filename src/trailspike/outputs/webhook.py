"""The ``webhook`` output: POST each alert as JSON, with retries and backoff; Slack format option.

``json`` posts the whole alert document. ``slack`` posts ``{"text": ...}`` for a Slack (or
Mattermost, Teams-compatible) incoming webhook, with the rule, score, reason and alert id.

Implementation decisions: connection errors, 5xx and 429 are retried with exponential backoff
(``Retry-After`` honoured up to 30 s); other 4xx answers are final for this cycle, since repeating
the same request cannot help. After the attempts are spent the alert stays undelivered and the
service retries it next cycle, so nothing is lost; once the endpoint looks down, the rest of the
batch waits for the next cycle instead of stalling this one. Text from logs is
attacker-controlled: in Slack's format ``&``, ``<`` and ``>`` are escaped so a crafted error
message cannot inject links or mentions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx2

from trailspike.outputs.base import AlertDoc

RETRY_STATUS = {429, 500, 502, 503, 504}


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's message format treats as control characters.

    >>> slack_escape("<https://evil|click> & co")
    '&lt;https://evil|click&gt; &amp; co'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(doc: AlertDoc) -> dict[str, Any]:
    """A Slack incoming-webhook message for one alert."""
    rule = slack_escape(str(doc.get("kibana.alert.rule.name", "alert")))
    header = (
        f"*{rule}* ({doc.get('kibana.alert.severity', '?')}, "
        f"score {float(doc.get('record_score', 0)):.0f})"
    )
    body = slack_escape(str(doc.get("kibana.alert.reason", "")))
    footer = f"`trailspike alerts show {doc.get('kibana.alert.uuid', '')}`"
    return {"text": f"{header}\n{body}\n{footer}"}


class WebhookOutput:
    """POST alerts to ``url`` one by one."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        payload: str = "json",
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if payload not in ("json", "slack"):
            raise ValueError("webhook payload must be json or slack")
        self.url = url
        self.payload = payload
        self.retries = max(1, retries)
        self.backoff = backoff
        self.sleep = sleep
        self.client = httpx2.Client(timeout=timeout, headers={"User-Agent": "trailspike"})

    def _body(self, doc: AlertDoc) -> dict[str, Any]:
        return slack_payload(doc) if self.payload == "slack" else doc

    def _post(self, doc: AlertDoc) -> str | None:
        error = "not sent"
        for attempt in range(self.retries):
            if attempt:
                self.sleep(self._delay(attempt, error))
            try:
                response = self.client.post(self.url, json=self._body(doc))
            except httpx2.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 300:
                return None
            error = f"HTTP {response.status_code} from {self.url}"
            if response.status_code not in RETRY_STATUS:
                return error
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                error += f" (retry after {retry_after}s)"
        return f"{error} after {self.retries} attempts"

    def _delay(self, attempt: int, error: str) -> float:
        if "(retry after " in error:
            return min(30.0, float(error.rsplit("(retry after ", 1)[1].rstrip("s)")))
        return float(self.backoff * 2 ** (attempt - 1))

    def send(self, alerts: Sequence[AlertDoc]) -> list[str | None]:
        outcomes: list[str | None] = []
        for doc in alerts:
            error = self._post(doc)
            outcomes.append(error)
            if error is not None and error.endswith("attempts"):
                # The endpoint is down: trying each remaining alert would stall the service
                # for minutes. They stay pending and go out next cycle.
                skipped = f"not tried: {self.url} unavailable ({error})"
                outcomes.extend([skipped] * (len(alerts) - len(outcomes)))
                break
        return outcomes

    def close(self) -> None:
        self.client.close()
