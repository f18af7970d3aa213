"""Bulk output through the official clients, against a local server that checks `_bulk`."""

from __future__ import annotations

import json

import pytest
from outputs_fakes import serve

from trailspike.outputs.search import ElasticsearchOutput, OpenSearchOutput

DOCS = [
    {"kibana.alert.uuid": f"uuid-{i}", "kibana.alert.rule.name": "r", "source": {"ip": ["1.2.3.4"]}}
    for i in range(3)
]


@pytest.mark.parametrize("cls", [ElasticsearchOutput, OpenSearchOutput], ids=["es", "opensearch"])
def test_bulk_creates_each_alert_once(cls: type[ElasticsearchOutput]) -> None:
    with serve() as (url, rec):
        out = cls(url, "trailspike-alerts")
        assert out.send(DOCS) == [None, None, None]
        # Re-sending (e.g. after a crash) meets 409 conflicts, which count as delivered.
        assert out.send(DOCS[:2]) == [None, None]
        out.close()
    assert sorted(rec.stored) == [f"trailspike-alerts/uuid-{i}" for i in range(3)]
    assert rec.stored["trailspike-alerts/uuid-1"] == DOCS[1]
    method, path, _headers, body = rec.requests[0]
    assert method in ("POST", "PUT") and path.split("?")[0] == "/_bulk"
    first_action = json.loads(body.decode().split("\n")[0])
    assert first_action == {"create": {"_index": "trailspike-alerts", "_id": "uuid-0"}}


def test_per_item_errors_are_reported_per_alert() -> None:
    with serve() as (url, rec):
        rec.reject_ids = {"uuid-1"}
        out = ElasticsearchOutput(url, "alerts")
        assert out.send(DOCS) == [None, "HTTP 400 document_parsing_exception", None]


def test_elasticsearch_client_refuses_a_server_that_is_not_elasticsearch() -> None:
    with serve() as (url, rec):
        rec.product = "SomethingElse"
        (error, *_rest) = ElasticsearchOutput(url, "alerts").send(DOCS)
    assert error is not None and "UnsupportedProductError" in error


def test_unreachable_cluster_leaves_alerts_undelivered() -> None:
    with serve() as (url, _):
        pass
    errors = ElasticsearchOutput(url, "alerts", timeout=2).send(DOCS)
    assert all(e is not None and "Connection" in e for e in errors)
