"""Hostile or odd input never crashes normalisation: it is stored or quarantined with a reason."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trailspike.ingest.normalizer import document_for
from trailspike.ingest.reader import Entry
from trailspike.store.events import event_row

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson decodes
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = [
    "eventTime",
    "eventID",
    "eventName",
    "eventSource",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "userIdentity",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "resources",
    "tlsDetails",
    "readOnly",
]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=10), st.booleans())
def test_any_record_is_stored_or_rejected(record: dict, with_time: bool) -> None:
    if with_time:
        record["eventTime"] = "2026-01-01T00:00:00Z"
    doc, reason = document_for(Entry("record", record, 1, 1), None)
    if doc is None:
        assert reason
        return
    assert reason == ""
    assert doc["@timestamp"] == "2026-01-01T00:00:00.000Z"
    assert isinstance(doc["event"]["id"], str)
    orjson.dumps(doc)
    event_row(doc)
