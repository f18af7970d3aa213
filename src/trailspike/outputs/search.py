"""The ``elasticsearch`` and ``opensearch`` outputs: bulk-index alerts with the official clients.

Each alert is a ``create`` action with ``_id`` = the alert uuid, into ``elasticsearch_index``. An
answer of 409 (the document exists) counts as delivered: the alert is already there, which is
what makes re-sending after a crash harmless. Any other per-item error is returned for that
alert only, so the rest of the batch is not re-sent.

Implementation decisions: the clients are imported when the output is built, since they are an
optional extra (``trailspike[search]``). The Elasticsearch client refuses servers that do not
identify as Elasticsearch (the ``X-Elastic-Product`` header); OpenSearch's client has no such
check. Authentication is an API key (``elasticsearch_api_key``) or credentials in the URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trailspike.outputs.base import AlertDoc, OutputError


def bulk_operations(index: str, alerts: Sequence[AlertDoc]) -> list[dict[str, Any]]:
    """The action/document pairs of a ``_bulk`` request.

    >>> bulk_operations("a", [{"kibana.alert.uuid": "u1", "x": 1}])
    [{'create': {'_index': 'a', '_id': 'u1'}}, {'kibana.alert.uuid': 'u1', 'x': 1}]
    """
    ops: list[dict[str, Any]] = []
    for doc in alerts:
        ops.append({"create": {"_index": index, "_id": str(doc["kibana.alert.uuid"])}})
        ops.append(doc)
    return ops


def item_errors(response: dict[str, Any], count: int) -> list[str | None]:
    """Per-alert outcome of a bulk response: ``None`` for created or already present.

    >>> item_errors({"items": [{"create": {"status": 201}}, {"create": {"status": 409}},
    ...     {"create": {"status": 400, "error": {"type": "mapper_parsing_exception"}}}]}, 3)
    [None, None, 'HTTP 400 mapper_parsing_exception']
    """
    items = response.get("items") or []
    if len(items) != count:
        return [f"bulk answer has {len(items)} items for {count} alerts"] * count
    out: list[str | None] = []
    for item in items:
        result: dict[str, Any] = next(iter(item.values()), {}) if isinstance(item, dict) else {}
        status = int(result.get("status", 0))
        if 200 <= status < 300 or status == 409:
            out.append(None)
        else:
            error = result.get("error") or {}
            kind = error.get("type", "error") if isinstance(error, dict) else str(error)
            out.append(f"HTTP {status} {kind}")
    return out


class _BulkOutput:
    name = "elasticsearch"

    def __init__(self, client: Any, index: str) -> None:
        self.client = client
        self.index = index

    def _bulk(self, ops: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, alerts: Sequence[AlertDoc]) -> list[str | None]:
        if not alerts:
            return []
        try:
            response = self._bulk(bulk_operations(self.index, alerts))
        except Exception as exc:  # the clients raise many types; all mean "not delivered"
            return [f"{type(exc).__name__}: {exc}"] * len(alerts)
        return item_errors(response, len(alerts))

    def close(self) -> None:
        self.client.close()


class ElasticsearchOutput(_BulkOutput):
    """Bulk-index into Elasticsearch through the ``elasticsearch`` client."""

    name = "elasticsearch"

    def __init__(self, url: str, index: str, api_key: str = "", timeout: float = 10.0) -> None:
        if not url:
            raise OutputError("the elasticsearch output needs the setting elasticsearch_url")
        try:
            from elasticsearch import Elasticsearch
        except ImportError as exc:
            raise OutputError("install trailspike[search] for the elasticsearch output") from exc
        client = Elasticsearch(url, api_key=api_key or None, request_timeout=timeout, max_retries=2)
        super().__init__(client, index)

    def _bulk(self, ops: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(self.client.bulk(operations=ops).body)


class OpenSearchOutput(_BulkOutput):
    """Bulk-index into OpenSearch through the ``opensearch-py`` client."""

    name = "opensearch"

    def __init__(self, url: str, index: str, api_key: str = "", timeout: float = 10.0) -> None:
        if not url:
            raise OutputError("the opensearch output needs the setting elasticsearch_url")
        try:
            from opensearchpy import OpenSearch
        except ImportError as exc:
            raise OutputError("install trailspike[search] for the opensearch output") from exc
        headers = {"Authorization": f"ApiKey {api_key}"} if api_key else None
        client = OpenSearch(hosts=[url], headers=headers, timeout=timeout, max_retries=2)
        super().__init__(client, index)

    def _bulk(self, ops: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(self.client.bulk(body=ops))
