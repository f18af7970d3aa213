"""The events behind anomalies: slices, first events, influencer counts and shares."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import duckdb
import pytest

from trailspike.features import evidence
from trailspike.features.bucket_duckdb import bucket_event_counts, chunk_events, held_chunk
from trailspike.features.contract import DetectorFeature, FeatureRequest
from trailspike.features.evidence import (
    bucket_influencer_counts,
    bucket_slice,
    first_seen,
    first_seen_of,
    influencer_counts,
    influencer_shares,
    record_evidence,
)
from trailspike.features.query import parse_query

T0 = datetime(2026, 3, 2, 10, 0)  # the events fixture's first bucket (conftest.py)


def test_event_counts_and_slice(events) -> None:
    req = FeatureRequest(
        "j", 900, (DetectorFeature(0, "count"),), parse_query({"exists": {"field": "user.name"}})
    )
    assert bucket_event_counts(events, req, T0, T0 + timedelta(hours=1)) == {
        T0: 3,
        T0 + timedelta(minutes=15): 1,
    }
    det = DetectorFeature(0, "distinct_count", "aws.cloudtrail.error_message")
    table = bucket_slice(
        events, FeatureRequest("j", 900, (det,)), det, T0, ("user.name", "source.ip")
    )
    got = sorted(
        zip(table["x"].to_pylist(), table["i0"].to_pylist(), table["i1"].to_pylist(), strict=True)
    )
    assert got == [("m1", "u1", "1.1.1.1"), ("m2", "u1", "1.1.1.1"), ("m2", "u2", "2.2.2.2")]
    rare = DetectorFeature(
        0, "rare", by_field_name="event.action", partition_field_name="user.name"
    )
    one = bucket_slice(events, FeatureRequest("j", 900, (rare,)), rare, T0, (), ("u1", "A", ""))
    assert one.num_rows == 2 and set(one["partition"].to_pylist()) == {"u1"}


@pytest.mark.parametrize("cache_rows", [evidence.SLICE_CACHE_MAX_ROWS, 0])
def test_slices_cut_from_a_held_chunk_equal_one_statement_per_bucket(
    events: duckdb.DuckDBPyConnection, cache_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evidence, "SLICE_CACHE_MAX_ROWS", cache_rows)  # 0: a chunk too large
    det = DetectorFeature(0, "high_distinct_count", "aws.cloudtrail.error_message")
    request = FeatureRequest("j", 900, (det,))
    fields = ("user.name", "source.ip")
    span = timedelta(minutes=15)
    cuts = [(T0 + n * span, until) for n in range(-1, 5) for until in (None, T0 + n * span
            + timedelta(minutes=2))]  # fmt: skip
    alone = [bucket_slice(events, request, det, b, fields, until=u).to_pylist() for b, u in cuts]
    assert sum(map(len, alone)) >= 3, "the fixture must have rows in the buckets"
    with chunk_events(events, request, T0 - span, T0 + 5 * span, fields):
        held = [bucket_slice(events, request, det, b, fields, until=u).to_pylist() for b, u in cuts]
        chunk = held_chunk(request, T0, T0 + span)
        assert chunk is not None and bool(chunk.cache) == (cache_rows > 0)  # the path taken
    assert held == alone  # the same rows in the same order, partial buckets too


def test_influencer_counts_match_the_raw_slice(events: duckdb.DuckDBPyConnection) -> None:
    rare = DetectorFeature(
        0, "rare", by_field_name="event.action", partition_field_name="user.name"
    )
    request = FeatureRequest("j", 900, (rare,))
    fields = ("source.ip", "user.name")
    slice_ = bucket_slice(events, request, rare, T0, fields).to_pylist()
    keys = sorted({(r["partition"], r["by"], r["over"]) for r in slice_})
    assert len(keys) >= 2
    wanted = keys[:-1]  # one series left out: it must not be counted
    expected = Counter(
        (r["partition"], r["by"], r["over"], f, r[f"i{f}"])
        for r in slice_
        for f in range(len(fields))
        if (r["partition"], r["by"], r["over"]) in wanted and r[f"i{f}"] is not None
    )
    got = bucket_influencer_counts(events, request, rare, T0, fields, wanted)
    assert {row[:5]: row[5] for row in got} == dict(expected)
    assert bucket_influencer_counts(events, request, rare, T0, fields, []) == []


def test_influencer_counts_of_many_buckets_equal_one_query_per_bucket(
    events: duckdb.DuckDBPyConnection,
) -> None:
    rare = DetectorFeature(
        0, "rare", by_field_name="event.action", partition_field_name="user.name"
    )
    request = FeatureRequest("j", 900, (rare,))
    fields = ("source.ip", "user.name")
    span = timedelta(minutes=15)
    for n, ip in enumerate(["9.9.9.1", "9.9.9.1", "9.9.9.2"]):  # shares 2/3 and 1/3
        events.execute(
            "INSERT INTO events (event_id, ts, event_action, user_name, source_ip, doc, "
            "ingested_at) VALUES (?, ?, 'Z', 'u9', ?, '{}', now())",
            [f"share{n}", T0 + span + timedelta(minutes=n + 1), ip],
        )
    buckets = [T0 + n * span for n in range(4)]
    wanted: list[tuple[datetime, tuple[str, str, str], datetime | None]] = []
    for b in buckets:
        keys = {(r["partition"], r["by"], r["over"]) for r in
                bucket_slice(events, request, rare, b, fields).to_pylist()}  # fmt: skip
        for key in sorted(keys):
            wanted += [(b, key, None), (b, key, b + timedelta(minutes=2))]
    assert len({b for b, _, _ in wanted}) >= 2, "the fixture must spread over buckets"
    got: Counter[tuple[int, int, str]] = Counter()
    for n, f, value, count in influencer_counts(events, request, rare, fields, wanted):
        got[(n, f, value)] += count
    expected: Counter[tuple[int, int, str]] = Counter()
    for n, (b, key, until) in enumerate(wanted):
        one = bucket_influencer_counts(events, request, rare, b, fields, [key], until)
        for _, _, _, f, value, count in one:
            expected[(n, f, value)] += count
    assert got == expected and sum(got.values()) > 0
    assert influencer_counts(events, request, rare, fields, []) == []
    # Shares: each value's events over its field's, the division Python does, from the cutoff.
    totals: Counter[tuple[int, int]] = Counter()
    for (n, f, _), count in got.items():
        totals[(n, f)] += count
    for cutoff in (0.0, 0.4, 0.6):
        shares = influencer_shares(events, request, rare, fields, wanted, cutoff)
        want = {
            (n, f, v): c / totals[(n, f)]
            for (n, f, v), c in got.items()
            if c / totals[(n, f)] >= cutoff
        }
        assert {(n, f, v): share for n, f, v, share in shares} == want
    assert any(
        share < 1.0 for *_, share in influencer_shares(events, request, rare, fields, wanted, 0)
    )


def test_first_seen_of_some_series_equals_first_seen_of_all(
    events: duckdb.DuckDBPyConnection,
) -> None:
    rare = DetectorFeature(
        0, "rare", by_field_name="event.action", partition_field_name="user.name"
    )
    request = FeatureRequest("j", 900, (rare,))
    every = first_seen(events, request, rare, T0, T0 + timedelta(hours=2))
    assert len({b for b, *_ in every}) >= 2, "the fixture must spread over buckets"
    wanted = [(b, (p, by, over)) for b, p, by, over in sorted(every)]
    wanted.append((T0, ("nobody", "A", "")))  # no events: left out
    got = first_seen_of(events, request, rare, wanted)
    assert got == {n: every[(b, *key)] for n, (b, key) in enumerate(wanted[:-1])}
    assert first_seen_of(events, request, rare, []) == {}


def test_record_evidence_of_early_and_final_records_in_one_query(
    events: duckdb.DuckDBPyConnection,
) -> None:
    rare = DetectorFeature(
        0, "rare", by_field_name="event.action", partition_field_name="user.name"
    )
    request = FeatureRequest("j", 3600, (rare,))
    fields = ("source.ip", "user.name")
    every = first_seen(events, request, rare, T0, T0 + timedelta(hours=2))
    keys = [(b, (p, by, over)) for b, p, by, over in sorted(every)]
    wanted = [(b, k, None, flag) for b, k in keys for flag in (False, True)]
    firsts, shares = record_evidence(events, request, rare, fields, wanted, 0.0)
    # Flagged: the first event, and the shares of the events before the end of its minute.
    assert firsts == {n: every[(b, *k)] for n, (b, k, _, flag) in enumerate(wanted) if flag}
    minute_end = {
        n: firsts[n][0].replace(second=0, microsecond=0) + timedelta(minutes=1) for n in firsts
    }
    separate = [(b, k, minute_end.get(n), False) for n, (b, k, _, _) in enumerate(wanted)]
    assert sorted(shares) == sorted(
        record_evidence(events, request, rare, fields, separate, 0.0)[1]
    )
    assert {n for n, *_ in shares} == set(range(len(wanted)))
    assert record_evidence(events, request, rare, (), wanted, 0.0) == (firsts, [])
    # Per record, most influential first: share, then field name, then value (Python's order).
    names = {0: "source.ip", 1: "user.name"}
    for n in range(len(wanted)):
        mine = [(f, v, share) for m, f, v, share in shares if m == n]
        assert mine == sorted(mine, key=lambda x: (-x[2], names[x[0]], x[1]))
    tied = [(T0, ("u9", "Z", ""), None, False)]
    for n, ip in enumerate(["9.9.9.2", "9.9.9.1", "9.9.9.3", "9.9.9.3"]):  # 1/4, 1/4, 2/4
        events.execute(
            "INSERT INTO events (event_id, ts, event_action, user_name, source_ip, doc, "
            "ingested_at) VALUES (?, ?, 'Z', 'u9', ?, '{}', now())",
            [f"tie{n}", T0 + timedelta(minutes=n + 1), ip],
        )
    three = ("user.name", "source.ip", "event.action")
    _, got = record_evidence(events, request, rare, three, tied, 0.0)
    # Ties at 1.0 go by field name (event.action < user.name), ties at 1/4 by value.
    assert [(f, v, share) for _, f, v, share in got] == [
        (2, "Z", 1.0),
        (0, "u9", 1.0),
        (1, "9.9.9.3", 0.5),
        (1, "9.9.9.1", 0.25),
        (1, "9.9.9.2", 0.25),
    ]


def test_split_field_influencers_are_the_counted_ones(
    events: duckdb.DuckDBPyConnection, monkeypatch
) -> None:
    """An influencer that is the detector's partition or by field gets its share from the
    record's key (key_influencers): the same rows as counting it in SQL."""
    import trailspike.features.record_evidence as record_evidence_module

    fields = ("user.name", "source.ip", "event.action")
    for use_null in (False, True):
        rare = DetectorFeature(
            0,
            "rare",
            by_field_name="event.action",
            partition_field_name="user.name",
            use_null=use_null,
        )
        request = FeatureRequest("j", 3600, (rare,))
        every = first_seen(events, request, rare, T0, T0 + timedelta(hours=2))
        keys = [(b, (p, by, over)) for b, p, by, over in sorted(every)]
        wanted = [(b, k, None, flag) for b, k in keys for flag in (False, True)]
        wanted.append((T0, ("nobody", "A", ""), None, True))  # no events: no rows
        keyed = record_evidence(events, request, rare, fields, wanted, 0.0)
        assert record_evidence_module.key_influencers(rare, fields) == (
            {} if use_null else {0: 0, 2: 1}
        )
        with monkeypatch.context() as patched:
            patched.setattr(record_evidence_module, "key_influencers", lambda det, names: {})
            counted = record_evidence(events, request, rare, fields, wanted, 0.0)
        assert keyed == counted
        assert {f for _, f, _, _ in keyed[1]} == {0, 1, 2}


def _reference_evidence(rows, wanted, span, cutoff):
    """record_evidence in plain Python over the raw events ``rows`` (ts, user, action, ip)."""
    firsts, shares = {}, []
    for n, (bucket, key, until, flag) in enumerate(wanted):
        end = min(bucket + span, until) if until else bucket + span
        mine = [r for r in rows if bucket <= r[0] < end and (r[1], r[2], "") == key]
        if flag and mine:
            first = min(r[0] for r in mine)
            cut = first.replace(second=0, microsecond=0) + timedelta(minutes=1)
            mine = [r for r in mine if r[0] < cut]
            firsts[n] = (first, len(mine))
        ips = Counter(r[3] for r in mine if r[3] is not None)
        total = sum(ips.values())
        found = [(0, ip, float(c) / float(total)) for ip, c in ips.items()]
        if mine:
            found.append((1, key[0], 1.0))  # user.name: the partition, one value
        kept = sorted((x for x in found if x[2] >= cutoff), key=lambda x: (-x[2], x[0], x[1]))
        shares += [(n, f, v, share) for f, v, share in kept]
    return firsts, shares


def test_record_evidence_equals_a_plain_count_of_random_events(
    store: duckdb.DuckDBPyConnection,
) -> None:
    """First events, early cuts and shares (counted in numpy) against plain Python, over
    random events: several a minute, missing IPs, flagged and unflagged records, data ends."""
    import random

    rng = random.Random(7)
    rows = []
    for n in range(600):
        ts = T0 + timedelta(seconds=rng.randrange(3 * 3600), microseconds=rng.randrange(10))
        user, action = rng.choice(["u1", "u2", "u3"]), rng.choice(["A", "B", "C", "D"])
        ip = rng.choice([None, "1.1.1.1", "2.2.2.2", "3.3.3.3", "é.4"])
        rows.append((ts, user, action, ip))
        store.execute(
            "INSERT INTO events (event_id, ts, event_action, user_name, source_ip, doc, "
            "ingested_at) VALUES (?, ?, ?, ?, ?, '{}', now())",
            [f"r{n}", ts, action, user, ip],
        )
    rare = DetectorFeature(
        0, "rare", by_field_name="event.action", partition_field_name="user.name"
    )
    span = timedelta(hours=1)
    request = FeatureRequest("j", 3600, (rare,))
    wanted = []
    for h in range(3):
        for user in ("u1", "u2", "u3", "u4"):
            for action in ("A", "B", "C", "D"):
                bucket, key = T0 + h * span, (user, action, "")
                until = bucket + timedelta(minutes=rng.randrange(1, 70))
                wanted += [(bucket, key, None, False), (bucket, key, None, True)]
                wanted += [(bucket, key, until, False), (bucket, key, until, True)]
    rng.shuffle(wanted)
    for cutoff in (0.0, 0.4, 1.0):
        got = record_evidence(store, request, rare, ("source.ip", "user.name"), wanted, cutoff)
        assert got == _reference_evidence(rows, wanted, span, cutoff)
