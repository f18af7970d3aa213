from __future__ import annotations

import gzip
import io
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_helpers import record

from trailspike.ingest.reader import FileReader, read_file


def entries_of(data: bytes):
    reader, entries = read_file(io.BytesIO(data))
    found = list(entries)
    return reader, found


def test_plain_and_gzip_s3_objects_give_the_same_records() -> None:
    data = orjson.dumps({"Records": [record(1), record(2)]})
    _, plain = entries_of(data)
    _, packed = entries_of(gzip.compress(data))
    assert [e.payload["eventID"] for e in plain] == [e.payload["eventID"] for e in packed]
    assert [e.index for e in plain] == [1, 2]


def test_pretty_printed_document_is_read_whole() -> None:
    data = json.dumps({"Records": [record(1), record(2), record(3)]}, indent=2).encode()
    reader, found = entries_of(data)
    assert [e.kind for e in found] == ["record"] * 3
    assert reader.damage is None


def test_bad_json_line_is_reported_and_the_rest_kept() -> None:
    lines = [
        orjson.dumps(record(1)),
        b'{"eventTime": "2026-01-01T00:00:00Z", oops}',
        orjson.dumps(record(2)),
    ]
    _, found = entries_of(b"\n".join(lines) + b"\n")
    assert [e.kind for e in found] == ["record", "bad", "record"]
    bad = found[1]
    assert bad.line == 2 and bad.index == 2
    assert bad.payload.startswith("bad JSON")
    assert "oops" in bad.snippet


def test_first_line_bad_then_good_lines() -> None:
    data = b"not json at all\n" + orjson.dumps(record(1)) + b"\n"
    _, found = entries_of(data)
    assert [e.kind for e in found] == ["bad", "record"]


def test_truncated_gzip_keeps_the_lines_before_the_break() -> None:
    lines = b"\n".join(orjson.dumps(record(n)) for n in range(200)) + b"\n"
    packed = gzip.compress(lines)
    reader, found = entries_of(packed[: len(packed) // 2])
    good = [e for e in found if e.kind == "record"]
    assert 0 < len(good) < 200
    assert reader.damage is not None and "truncated" in reader.damage
    # Every record read is whole and in order.
    assert [e.payload["eventID"] for e in good] == [record(n)["eventID"] for n in range(len(good))]


def test_truncated_s3_object_is_salvaged_record_by_record() -> None:
    data = json.dumps({"Records": [record(n) for n in range(50)]}, indent=2).encode()
    packed = gzip.compress(data)
    reader, found = entries_of(packed[: len(packed) * 2 // 3])
    kinds = [e.kind for e in found]
    assert kinds.count("record") > 10
    assert kinds[-1] == "bad" and found[-1].payload == "record cut off by the truncated file"
    assert reader.damage is not None


def test_a_corrupt_record_inside_an_s3_object_does_not_lose_the_others() -> None:
    good = [json.dumps(record(n)) for n in range(3)]
    broken = good[1].replace('"eventName"', '"eventName" "x"', 1)
    data = ('{"Records": [' + ", ".join([good[0], broken, good[2]]) + "]}").encode()
    _, found = entries_of(data)
    assert [e.kind for e in found] == ["record", "bad", "record"]
    assert found[1].payload.startswith("bad JSON")


def test_empty_file_has_no_entries() -> None:
    reader, found = entries_of(b"")
    assert found == [] and reader.damage is None


def test_digest_files_are_skipped() -> None:
    digest = {"digestStartTime": "2026-01-01T00:00:00Z", "logFiles": [], "awsAccountId": "1"}
    reader, found = entries_of(orjson.dumps(digest))
    assert found == [] and reader.digest


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_any_bytes_are_read_without_crashing(data: bytes, packed: bool) -> None:
    _, found = entries_of(gzip.compress(data)[: len(data)] if packed else data)
    for entry in found:
        assert entry.kind in ("record", "ecs", "bad")
        if entry.kind == "bad":
            assert isinstance(entry.payload, str) and entry.payload


def test_s3_objects_are_decoded_record_by_record_with_the_same_result() -> None:
    from trailspike.ingest.reader import s3_records

    tricky = [
        {"eventVersion": "1.08", "userAgent": 'x},{"eventVersion":"9"} y', "n": 1},
        {"eventVersion": "1.08", "requestParameters": {"a": [{"eventVersion": 1}, {"b": 2}]}},
        {"eventVersion": "1.08", "errorMessage": "ünïcödé ☃ \u2028", "big": 1.5e300},
        {"eventVersion": "1.09"},
    ]
    data = orjson.dumps({"Records": tricky})
    assert list(s3_records(data) or []) == tricky
    # A nested list of objects cut at the same pattern: the pieces do not decode, so the
    # whole value is decoded instead, and the entries are the same either way.
    nested = [{"eventVersion": "1", "a": [{"eventVersion": 2}, {"eventVersion": 3}]}]
    with pytest.raises(ValueError):
        list(s3_records(orjson.dumps({"Records": nested})) or [])
    late = [{"eventVersion": "1"}, {"eventVersion": "2"}, *nested, {"eventVersion": "3"}]
    for records in (tricky, nested, late, [{"eventVersion": "1"}, 3, {"eventTime": "t"}]):
        raw = orjson.dumps({"Records": records})
        got = [(e.kind, e.payload, e.line, e.index, e.snippet) for e in entries_of(raw)[1]]
        whole = FileReader(io.BytesIO(b""))._entries_from_value(orjson.loads(raw), 1, raw)
        assert got == [(e.kind, e.payload, e.line, e.index, e.snippet) for e in whole]
        assert len(got) == len(records)
