"""The fused fast path gives exactly the reference path's documents, bytes and column values."""

from __future__ import annotations

import functools
import io
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_data import shared_path
from trailspike.ingest import normalizer
from trailspike.ingest.normalizer import Context, _fast_document, document_for
from trailspike.ingest.reader import Entry, read_file
from trailspike.normalise import memo
from trailspike.normalise.geo import GeoEnricher
from trailspike.normalise.template import TEMPLATES, template_of
from trailspike.store.events import event_row

NOW = datetime(2026, 12, 1)


def _geo() -> GeoEnricher:
    return GeoEnricher(
        str(shared_path("geoip", "GeoLite2-City-Test.mmdb")),
        str(shared_path("geoip", "GeoLite2-ASN-Test.mmdb")),
    )


def _both(entry: Entry, geo: GeoEnricher | None) -> tuple[Any, Any]:
    """(reference result, fast result), each (document JSON bytes or None, row or reason)."""
    reference_entry = Entry(entry.kind, orjson.loads(orjson.dumps(entry.payload)), 1, 1)
    doc, reason = document_for(reference_entry, geo)
    reference = (orjson.dumps(doc), event_row(doc)) if doc is not None else (None, reason)
    ctx = Context(geo, 1 << 20, 1000, NOW, True)  # type: ignore[arg-type]
    encoded, row, reason = _fast_document(entry, ctx)
    fast = (encoded, row) if encoded is not None else (None, reason)
    return reference, fast


def _assert_same(entries: list[Entry], geo: GeoEnricher | None) -> int:
    compared = 0
    for entry in entries:
        reference, fast = _both(entry, geo)
        assert fast == reference, entry.payload
        compared += reference[0] is not None
    return compared


def _entries(path: Path) -> list[Entry]:
    with path.open("rb") as stream:
        return list(read_file(stream)[1])


def test_shared_cloudtrail_samples_agree() -> None:
    folder = shared_path("cloudtrail_samples")
    files = [p for p in sorted(folder.rglob("*")) if p.suffix in (".jsonl", ".json", ".gz")]
    entries = [entry for path in files for entry in _entries(path)]
    geo = _geo()
    assert _assert_same(entries, geo) > 500
    assert _assert_same(entries, None) > 500


def test_demo_world_files_agree(tmp_path: Path) -> None:
    from trailspike.demo.generate import WorldParams, generate_world

    generate_world(tmp_path, WorldParams(days=1, scale=0.05))
    files = sorted(tmp_path.rglob("*.json.gz"))
    entries = [entry for path in files[::4] for entry in _entries(path)]
    assert _assert_same(entries, GeoEnricher()) > 300


BASE: dict[str, Any] = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:alice",
        "arn": "arn:aws:sts::123456789012:assumed-role/admin/alice",
        "accountId": "123456789012",
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "attributes": {"creationDate": "2026-01-01T09:00:00Z", "mfaAuthenticated": "true"},
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "arn": "arn:aws:iam::123456789012:role/admin",
                "accountId": "123456789012",
                "userName": "admin",
            },
        },
    },
    "eventTime": "2026-01-01T10:00:00Z",
    "eventSource": "iam.amazonaws.com",
    "eventName": "CreateUser",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "89.160.20.156",
    "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 botocore/2.0",
    "requestParameters": {"userName": "bob", "tags": [{"key": "team", "value": "x"}]},
    "responseElements": {"user": {"userId": "AIDABOB", "userName": "bob"}},
    "eventID": "00000000-0000-4000-8000-000000000001",
    "eventType": "AwsApiCall",
    "recipientAccountId": "123456789012",
}
EDGE_CASES: list[dict[str, Any]] = [
    {},  # the base record itself
    {"eventID": None},  # no eventID: synthetic id
    {"eventID": ""},
    {"userIdentity": None, "userAgent": None, "requestParameters": None, "awsRegion": ""},
    {"responseElements": None, "errorCode": "AccessDenied", "errorMessage": "Denied ☃ ünï"},
    {"userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}},
    {"userIdentity": {"type": "IAMUser", "userName": "", "arn": 7, "principalId": ["p"]}},
    {"sourceIPAddress": "2001:db8::1"},
    {"sourceIPAddress": "2a02:cf40::1"},
    {"sourceIPAddress": "ec2.amazonaws.com"},
    {"sourceIPAddress": "AWS Internal"},
    {"sourceIPAddress": "10.0.0.1"},
    {"requestParameters": {"k" + str(i): "v" * 200 for i in range(300)}},  # ~65 KB string form
    {"requestParameters": {"a": None, "b": "", "c": {"d": []}, "e": 1.5e10, "f": True}},
    {"requestParameters": {"bucketName": "b", "roleArn": "arn:r", "keyId": "k"}},
    {"eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com"},
    {
        "eventName": "ConsoleLogin",
        "additionalEventData": {"MFAUsed": "Yes", "LoginTo": "https://x", "MobileVersion": "No"},
        "responseElements": {"ConsoleLogin": "Failure"},
    },
    {"resources": [{"ARN": "arn:a", "accountId": "1", "type": "T"}, {"ARN": "arn:a"}, "x"]},
    {"tlsDetails": {"tlsVersion": "TLSv1.2", "cipherSuite": "c", "clientProvidedHostHeader": "h"}},
    {"tlsDetails": {"tlsVersion": "weird"}},
    {"insightDetails": {"state": "Start"}, "eventCategory": "Insight"},
    {"sharedEventID": "s1", "vpcEndpointId": "vpce-1", "readOnly": False},
    {"eventTime": "2021-05-20 15:53:47Z"},
    {"eventTime": "2022-02-08T09:23:37.123+11:00"},
    {"eventTime": "yesterday"},
    {"eventName": 7},
    {"acsRegion": "cn-hangzhou"},
    {"sourceIPAddress": "300.1.2.3"},
    {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": "eu-west-1"},
    {"userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36"},
    {"requestParameters": {"newUserName": "carol", "groupName": "admins", "userName": "bob"}},
    {"responseElements": {"group": {"groupId": "AGPA1"}}},
    {"requestParameters": "a string, not an object", "serviceEventDetails": [1, None, ""]},
]


@pytest.mark.parametrize("overrides", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_hand_made_edge_cases_agree(overrides: dict[str, Any]) -> None:
    record = {**BASE, **overrides}
    entry = Entry("record", record, 1, 1)
    reference, fast = _both(entry, _geo())
    assert fast == reference
    assert _both(entry, None)[1] == _both(entry, None)[0]


def test_other_shapes_take_the_reference_path() -> None:
    ecs = {"@timestamp": "2026-01-01T00:00:00Z", "event": {"action": "X"}, "user": {"name": "u"}}
    for entry in (Entry("ecs", ecs, 1, 1), Entry("bad", "bad JSON: x", 1, 1)):
        reference, fast = _both(entry, None)
        assert fast == reference


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = [*sorted(BASE), "errorCode", "errorMessage", "resources", "tlsDetails", "readOnly"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8), st.booleans())
def test_random_records_agree(overrides: dict[str, Any], from_base: bool) -> None:
    record = {**BASE, **overrides} if from_base else overrides
    reference, fast = _both(Entry("record", record, 1, 1), None)
    assert fast == reference


REPEATED: list[dict[str, Any]] = [
    BASE,
    {**BASE, "requestParameters": {"newUserName": "carol", "groupName": "ops"}},
    {**BASE, "userIdentity": {**BASE["userIdentity"], "arn": "", "userName": "dave"}},
    {**BASE, "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}},
    {**BASE, "userIdentity": {"type": "", "arn": None}},
    {**BASE, "tlsDetails": {"tlsVersion": "TLSv1.2", "cipherSuite": True}},
    {**BASE, "tlsDetails": {"tlsVersion": "TLSv1.2", "cipherSuite": 1}},
    {**BASE, "requestParameters": {"userName": "bob", "n": [1.0, None]}},
    {**BASE, "requestParameters": {"userName": "bob", "n": [1, None]}},
]


def test_repeated_sub_objects_agree_every_time() -> None:
    """The fast path's memo tables (normalise/memo.py) give a value's first result again.

    Later steps add to what a hit shares (``user.target``, ``user.changes``, related users),
    so each record is normalised three times in turn, between the others.
    """
    memo.clear()
    for _ in range(3):
        for record in REPEATED:
            reference, fast = _both(Entry("record", record, 1, 1), _geo())
            assert fast == reference, record


def test_nan_and_null_never_share_a_memo_entry() -> None:
    """orjson writes NaN as null: a NaN value must not reuse a null one's result (memo.py)."""
    import copy
    import json

    from trailspike.normalise.cloudtrail import to_ecs
    from trailspike.normalise.fast import fast_event

    memo.clear()
    for text in ('{"arn": null, "type": "X"}', '{"arn": NaN, "type": "X"}') * 2:
        identity = json.loads(text)
        record = {**BASE, "userIdentity": identity, "requestParameters": {"n": identity["arn"]}}
        doc = to_ecs(copy.deepcopy(record), None)
        fast_doc, row = fast_event(record, None)
        assert orjson.dumps(fast_doc) == orjson.dumps(doc)
        assert row == event_row(doc)


def test_a_memo_table_of_misses_pauses_and_resumes() -> None:
    """Unique values stop being looked up after a window of misses (the table is emptied), and
    are tried again later."""
    memo.clear()
    table = memo.MemoTable()
    for n in range(table.WINDOW):
        assert not table.skip()
        assert table.get(str(n).encode()) is None
        table.put(str(n).encode(), n)
    assert sum(table.skip() for _ in range(table.PAUSE)) == table.PAUSE
    assert len(table.entries) <= 1 and not table.skip()  # emptied at the window's last get
    table.put(b"7", 7)
    assert table.get(b"7") == 7


# -- records filled in from a template (normalise/template.py) ------------------------------
_SERIAL = itertools.count()


def _again(record: dict[str, Any], time: Any = None) -> dict[str, Any]:
    """``record`` with a fresh event id and request id (and ``time`` as its eventTime if given)."""
    n = next(_SERIAL)
    fresh = {**record, "eventID": f"id-{n}", "requestID": f"req-{n}"}
    if time is not None:
        fresh["eventTime"] = time
    return fresh


@functools.cache
def _one_geo() -> GeoEnricher:
    """One enricher for a whole test: templates are kept per enricher (see the test below)."""
    return _geo()


def _same(record: dict[str, Any], geo: Any) -> tuple[Any, Any]:
    reference, fast = _both(Entry("record", record, 1, 1, "", True), geo)
    assert fast == reference, record
    return reference, fast


@pytest.fixture
def fills(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the records normalised in full (so the others came from a template)."""
    memo.clear()
    calls = [0]
    real = normalizer.fast_event

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(normalizer, "fast_event", counted)
    return calls


@pytest.mark.parametrize("overrides", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases_from_a_template_agree(overrides: dict[str, Any], fills: list[int]) -> None:
    record = {**BASE, **overrides}
    times = ["2026-01-01T10:00:00Z", "2026-01-01T10:00:01Z", "2026-02-03T04:05:06.789+01:00"]
    for time in times:
        _same(_again(record, time if "eventTime" not in overrides else None), _one_geo())
    # Seen once (key kept), seen twice (template made), then filled in; quarantined records are
    # never normalised, and a document too large for a template each time.
    valid = normalizer.check_record(record) is None
    assert fills[0] == (2 if len(orjson.dumps(record)) < 8000 else 3) if valid else fills[0] == 0


def test_repeated_records_agree_every_time(fills: list[int]) -> None:
    for _ in range(3):
        for record in REPEATED:
            _same(_again(record), _one_geo())
    assert fills[0] == 2 * len(REPEATED)  # the third round came from templates


def test_a_bad_time_on_a_repeat_gets_the_usual_reason(fills: list[int]) -> None:
    for time in ("2026-01-01T10:00:00Z", "2026-01-01T10:00:01Z", "2026-01-01T10:00:02Z"):
        _same(_again(BASE, time), None)
    for time in ("yesterday", "２０２６-01-01T10:00:03Z", ""):
        fast = _same(_again(BASE, time), None)[1]
        assert fast[0] is None and "eventTime" in fast[1]
    _same({**_again(BASE), "eventID": 7}, None)  # not a string: not looked up, quarantined


def test_records_without_both_ids_take_the_usual_path(fills: list[int]) -> None:
    for _ in range(3):
        for missing in ("eventID", "requestID"):
            record = _again(BASE)
            del record[missing]
            _same(record, None)
            _same({**record, missing: ""}, None)
    assert fills[0] == 12


def test_templates_are_not_shared_between_geoip_settings(fills: list[int]) -> None:
    """A template holds the GeoIP fields of the enricher it was made with; a run with another
    enricher in the same process must not reuse it."""
    for geo in (_geo(), None, _geo(), GeoEnricher(fallback=False)):
        for _ in range(3):
            _same(_again(BASE), geo)
    assert fills[0] == 4 * 2


def test_marks_inside_a_record_leave_it_without_a_template(fills: list[int]) -> None:
    record = {**BASE, "requestParameters": {"userName": "\x00trailspike:event.id\x00"}}
    for _ in range(3):
        _same(_again(record), None)
    assert fills[0] == 3
    assert template_of({"@timestamp": "t", "event": {}, "aws": {"cloudtrail": {}}}, ()) is None


def test_entries_of_the_salvage_path_are_never_looked_up() -> None:
    """The stdlib decoder there reads NaN, which orjson writes as null (normalise/template.py)."""
    good = b'{"eventVersion":"1","eventTime":"2026-01-01T00:00:00Z","eventID":"a","requestID":"r"}'
    pretty = b'{"Records": [\n' + good + b",\n" + good.replace(b'"1"', b"NaN") + b",\n{bad\n]}"
    salvaged = list(read_file(io.BytesIO(pretty))[1])
    assert [entry.kind for entry in salvaged] == ["record", "record", "bad"]
    assert not any(entry.exact for entry in salvaged)
    one_line = b'{"Records":[' + good + b"," + good + b"]}\n" + good + b"\n"
    assert all(entry.exact for entry in read_file(io.BytesIO(one_line))[1])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6), st.booleans())
def test_random_repeated_records_agree(overrides: dict[str, Any], from_base: bool) -> None:
    record = {**BASE, **overrides} if from_base else overrides
    for _ in range(3):
        _same(_again(record), None)
    assert TEMPLATES.table.entries  # keys (and templates) were kept
