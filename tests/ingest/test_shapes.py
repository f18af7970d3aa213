from __future__ import annotations

import orjson
from ingest_helpers import record

from trailspike.ingest.shapes import expand


def kinds(value):
    return [
        (kind, payload.get("eventID") if isinstance(payload, dict) else payload)
        for kind, payload in expand(value)
    ]


def test_s3_delivery_object() -> None:
    assert kinds({"Records": [record(1), record(2)]}) == [
        ("record", record(1)["eventID"]),
        ("record", record(2)["eventID"]),
    ]


def test_lookup_events_item_and_list() -> None:
    item = {"EventId": "x", "CloudTrailEvent": orjson.dumps(record(3)).decode()}
    assert kinds(item) == [("record", record(3)["eventID"])]
    assert kinds({"Events": [item, item]}) == [("record", record(3)["eventID"])] * 2


def test_lookup_events_with_broken_json_string() -> None:
    [(kind, reason)] = expand({"CloudTrailEvent": "{not json"})
    assert kind == "bad" and "CloudTrailEvent is not valid JSON" in reason


def test_eventbridge_envelope() -> None:
    envelope = {
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "detail": record(4),
    }
    assert kinds(envelope) == [("record", record(4)["eventID"])]


def test_ecs_document_with_original_is_renormalised() -> None:
    doc = {
        "@timestamp": "2026-01-01T10:00:00.000Z",
        "event": {"original": orjson.dumps(record(5)).decode()},
    }
    assert kinds({"_source": doc}) == [("record", record(5)["eventID"])]


def test_ecs_document_without_original_is_kept() -> None:
    doc = {"@timestamp": "2026-01-01T10:00:00.000Z", "event": {"id": "e1", "action": "GetObject"}}
    [(kind, payload)] = expand(doc)
    assert kind == "ecs" and payload["event"]["id"] == "e1"
    search = {"hits": {"hits": [{"_source": doc}, {"_source": doc}]}}
    assert [k for k, _ in expand(search)] == ["ecs", "ecs"]


def test_not_an_object() -> None:
    [(kind, reason)] = expand(42)
    assert kind == "bad" and "JSON object" in reason
    assert [k for k, _ in expand({"Records": ["x"]})] == ["bad"]


def test_json_array_of_records() -> None:
    assert [k for k, _ in expand([record(1), record(2)])] == ["record", "record"]
