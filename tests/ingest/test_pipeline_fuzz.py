"""Hostile files never stop an ingest: every record is stored, a duplicate, or quarantined.

Records are written as raw JSON text, so values orjson refuses (NaN, infinities, integers beyond
64 bits, lone surrogate escapes, nesting deeper than any decoder's limit) reach the salvage path,
where the stdlib decoder lets them through. Each of those once aborted the whole run.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import record

from trailspike.core.settings import load_settings
from trailspike.ingest.pipeline import ingest
from trailspike.store.db import open_store

SETTINGS = load_settings({}, environ={})
DEEP = "__deep__"  # replaced by nesting deeper than Python's recursion limit
HOSTILE = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        10**30,
        -(10**25),
        "\ud800",
        "a\udfffb",
        "\x00",
        DEEP,
        "0001-01-01T00:00:00Z",
    ]
)
leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | HOSTILE
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = ["eventTime", "eventID", "eventName", "sourceIPAddress", "userAgent", "errorMessage",
          "userIdentity", "requestParameters", "responseElements", "awsRegion"]  # fmt: skip


def _text(value: Any) -> str:
    text = json.dumps(value, allow_nan=True)
    return text.replace(json.dumps(DEEP), "[" * 5000 + "]" * 5000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.dictionaries(st.sampled_from(FIELDS), values, max_size=3), min_size=1, max_size=6)
)
def test_any_s3_object_is_stored_or_quarantined(overrides: list[dict[str, Any]]) -> None:
    records = [{**record(n), **changed} for n, changed in enumerate(overrides)]
    body = '{"Records": [' + ", ".join(_text(r) for r in records) + "]}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hostile.json.gz"
        path.write_bytes(gzip.compress(body.encode("utf-8", "surrogatepass")))
        con = open_store(Path(folder) / "store.duckdb")
        try:
            summary = ingest(con, [str(path)], SETTINGS)
            stored = con.execute("SELECT count(*) FROM events").fetchone()
            quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()
        finally:
            con.close()
    assert summary.records == len(records)
    assert summary.stored + summary.duplicates + summary.quarantined == len(records)
    assert stored == (summary.stored,) and quarantined == (summary.quarantined,)


ECS_FIELDS = ["event", "source", "user", "cloud", "aws", "user_agent", "@timestamp"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(ECS_FIELDS), values, max_size=4), max_size=5))
def test_any_exported_ecs_lines_are_stored_or_quarantined(docs: list[dict[str, Any]]) -> None:
    lines = [_text({"_source": {"@timestamp": "2026-01-01T00:00:00Z", **doc}}) for doc in docs]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.ndjson"
        path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
        con = open_store(Path(folder) / "store.duckdb")
        try:
            summary = ingest(con, [str(path)], SETTINGS)
        finally:
            con.close()
    assert summary.stored + summary.duplicates + summary.quarantined == summary.records
