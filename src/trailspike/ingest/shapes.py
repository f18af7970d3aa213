"""Recognise the input shapes CloudTrail records arrive in and pull the records out.

Shapes, detected per JSON value: CloudTrail S3 delivery objects (``{"Records": [...]}``), bare
records (JSON lines), ``aws cloudtrail lookup-events`` output (the record is a JSON string in
``CloudTrailEvent``, also inside ``{"Events": [...]}``), CloudWatch Events / EventBridge envelopes
(``detail`` holds the record), Elastic/ECS documents exported from Elasticsearch (bare, under
``_source``, or a whole search response), and JSON arrays of any of these. CloudTrail digest files
hold no events and are skipped.

Implementation decisions: an ECS document that still carries ``event.original`` is re-normalised
from that original record, so it gets exactly the mapping of this version; one without it is kept
as the document it is. Alibaba Cloud ActionTrail records look like CloudTrail but are not: they are
rejected by name rather than mis-mapped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import orjson

Kind = Literal["record", "ecs", "bad", "skip"]
Item = tuple[Kind, Any]


def _looks_like_ecs(value: dict[str, Any]) -> bool:
    return "eventTime" not in value and (
        "@timestamp" in value or isinstance(value.get("event"), dict)
    )


def _from_ecs(doc: dict[str, Any]) -> Item:
    event = doc.get("event")
    original = event.get("original") if isinstance(event, dict) else None
    if isinstance(original, str):
        try:
            record = orjson.loads(original)
        except orjson.JSONDecodeError as exc:
            return "bad", f"ECS document: event.original is not valid JSON ({exc})"
        if isinstance(record, dict) and "eventTime" in record:
            return "record", record
    return "ecs", doc


def _from_lookup_event(value: dict[str, Any]) -> Item:
    text = value["CloudTrailEvent"]
    if not isinstance(text, str):
        return "bad", "lookup-events item: CloudTrailEvent is not a JSON string"
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return "bad", f"lookup-events item: CloudTrailEvent is not valid JSON ({exc})"
    if not isinstance(record, dict):
        return "bad", "lookup-events item: CloudTrailEvent is not a JSON object"
    return "record", record


def is_digest(value: dict[str, Any]) -> bool:
    """Whether a JSON object is a CloudTrail digest file (integrity hashes, no events).

    >>> is_digest({"digestStartTime": "x", "logFiles": []}), is_digest({"eventTime": "x"})
    (True, False)
    """
    return "digestStartTime" in value and "logFiles" in value


def expand(value: Any, depth: int = 0) -> Iterator[Item]:
    """Yield ``(kind, payload)`` for every record inside one decoded JSON value.

    ``kind`` is ``record`` (a CloudTrail record dict), ``ecs`` (an already-normalised ECS
    document), ``bad`` (payload is the reason) or ``skip`` (payload says why nothing is there).

    >>> [k for k, _ in expand({"Records": [{"eventTime": "t"}, 3]})]
    ['record', 'bad']
    >>> next(expand({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventTime": "t"}}))
    ('record', {'eventTime': 't'})
    """
    if depth > 4:
        yield "bad", "JSON nested too deeply to be a CloudTrail container"
        return
    if isinstance(value, list):
        for item in value:
            yield from expand(item, depth + 1)
        return
    if not isinstance(value, dict):
        yield "bad", f"a CloudTrail record must be a JSON object, got {type(value).__name__}"
        return
    if isinstance(value.get("Records"), list):
        for item in value["Records"]:
            if isinstance(item, dict):
                yield "record", item
            else:
                yield "bad", f"Records element is not a JSON object ({type(item).__name__})"
    elif isinstance(value.get("Events"), list):  # aws cloudtrail lookup-events --output json
        yield from expand(value["Events"], depth + 1)
    elif "CloudTrailEvent" in value:
        yield _from_lookup_event(value)
    elif isinstance(value.get("detail"), dict) and ("detail-type" in value or "source" in value):
        yield "record", value["detail"]
    elif isinstance(value.get("_source"), dict):
        yield _from_ecs(value["_source"])
    elif isinstance(value.get("hits"), dict) and isinstance(value["hits"].get("hits"), list):
        yield from expand(value["hits"]["hits"], depth + 1)
    elif is_digest(value):
        yield "skip", "CloudTrail digest file (integrity hashes, no events)"
    elif _looks_like_ecs(value):
        yield _from_ecs(value)
    else:
        yield "record", value
