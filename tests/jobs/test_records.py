"""Result rows: the JSON columns written directly are the text json.dumps gives."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from trailspike.jobs.detectors import Scored
from trailspike.jobs.influence import Influence
from trailspike.jobs.records import (
    explanation,
    explanation_column,
    explanation_json,
    influencers_column,
    influencers_json,
    record_ids,
)
from trailspike.store.results import record_id

FIELDS = ("user.name", "source.ip", "source.geo.city_name")


@given(
    st.lists(
        st.tuples(st.sampled_from(FIELDS), st.text(), st.floats(0.4, 1.0)), min_size=1, max_size=8
    )
)
def test_influencers_json_is_json_dumps(found: list[tuple[str, str, float]]) -> None:
    influences = [Influence(f, v, i) for f, v, i in found]
    grouped: dict[str, list[str]] = {}
    for inf in influences:
        grouped.setdefault(inf.field, []).append(inf.value)
    expected = json.dumps(
        [{"influencer_field_name": k, "influencer_field_values": v} for k, v in grouped.items()]
    )
    assert influencers_json(influences) == expected
    assert influencers_json([]) is None


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.one_of(st.none(), st.floats(0, 10)),
    st.one_of(st.none(), st.floats(-1, 1)),
)
def test_explanation_json_is_json_dumps(
    confidence: float, typical: float | None, impact: float | None
) -> None:
    scored = Scored(0, ("", "A", ""), 2.0, 1e-5, confidence, typical, 0.0, 5.0, impact)
    assert explanation_json(scored) == json.dumps(explanation(scored))


def test_record_columns_are_the_record_rows_as_columns() -> None:
    from datetime import datetime

    from trailspike.jobs.loader import load_jobs
    from trailspike.jobs.records import record_columns, record_row

    dets = [
        job.analysis_config.detectors[0]
        for job in (load_jobs().get("rare_method_for_a_username"), load_jobs().get(
            "high_distinct_count_error_message"))
    ]  # fmt: skip
    scored = [
        Scored(0, ("alice", "DeleteTrail", ""), 1.0, 1e-6, 0.9),
        Scored(0, ("", "", ""), 12.0, 1e-5, 1.0, 2.0, 0.0, 5.0, 0.3, 1e-4, 1e-5),
    ]
    found = [[Influence("user.name", "alice", 1.0)], []]
    buckets = [datetime(2026, 1, 5, 10), datetime(2026, 1, 5, 10, 15)]
    rows = [
        record_row("j", d, b, 900, s, score, f)
        for d, b, s, score, f in zip(dets, buckets, scored, [80.0, 55.5], found, strict=True)
    ]
    columns = {
        name: values if isinstance(values, list) else values.to_pylist()
        for name, values in record_columns(
            "j", 900, buckets, dets, scored, [80.0, 55.5], found
        ).items()
    }
    assert set(columns) == set(rows[0])
    assert [{c: columns[c][n] for c in columns} for n in range(2)] == rows
    assert rows[0]["partition_field_value"] == "alice" and rows[1]["by_field_value"] is None


influence_lists = st.lists(
    st.lists(
        st.builds(Influence, st.sampled_from(FIELDS), st.text(), st.floats(0.4, 1.0)),
        max_size=6,
    ),
    max_size=12,
)


@given(influence_lists)
def test_influencers_column_is_influencers_json_of_each_record(
    found: list[list[Influence]],
) -> None:
    # Records naming a field twice, empty records and non-ASCII values all come up here.
    assert influencers_column(found).to_pylist() == [influencers_json(f) for f in found]


def test_influencers_column_groups_a_field_named_twice_under_its_first_mention() -> None:
    found = [
        [Influence("source.ip", "10.0.0.1", 0.5), Influence("user.name", "ann", 1.0)],
        [
            Influence("user.name", "bob", 1.0),
            Influence("source.ip", "10.0.0.2", 0.5),
            Influence("source.ip", "10.0.0.3", 0.5),
        ],
    ]
    second = json.loads(influencers_column(found).to_pylist()[1])
    assert second == [
        {"influencer_field_name": "user.name", "influencer_field_values": ["bob"]},
        {"influencer_field_name": "source.ip", "influencer_field_values": ["10.0.0.2", "10.0.0.3"]},
    ]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**6), st.integers(0, 2), st.tuples(st.text(), st.text(), st.text())
        ),
        max_size=20,
    )
)
def test_record_ids_are_record_id_of_each_record(
    records: list[tuple[int, int, tuple[str, str, str]]],
) -> None:
    from datetime import datetime, timedelta

    buckets = [datetime(2026, 1, 1) + timedelta(minutes=15 * b) for b, _, _ in records]
    index = [i for _, i, _ in records]
    keys = [k for _, _, k in records]
    expected = [
        record_id("job", b, 900, i, *k) for b, i, k in zip(buckets, index, keys, strict=True)
    ]
    assert record_ids("job", 900, buckets, index, keys) == expected


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.125, 0.5, 1.0, float("nan")]),
            st.one_of(st.none(), st.floats(0, 10)),
            st.one_of(st.none(), st.floats(-1, 1)),
        ),
        max_size=10,
    )
)
def test_explanation_column_is_explanation_json_of_each_record(
    rows: list[tuple[float, float | None, float | None]],
) -> None:
    scored = [Scored(0, ("", "A", ""), 2.0, 1e-5, c, t, 0.0, 5.0, m) for c, t, m in rows]
    assert explanation_column(scored) == [explanation_json(s) for s in scored]


def test_a_stuck_value_is_explained_as_a_repeated_value() -> None:
    # A metric repeating the same value for three buckets: the repeat view, not the value's
    # size (typical 40.1 against 41.25), is what made it anomalous, and the analyst is told so.
    stuck = Scored(
        0, ("", "", ""), 41.25, 2e-6, 1.0, 40.1, 30.0, 50.0, -5.0, 2e-6, 0.4,
        repeat_probability=2e-6, repeated_buckets=3,
    )  # fmt: skip
    out = explanation(stuck)
    assert out["anomaly_type"] == "repeated_value"
    assert out["repeated_value"] == {"buckets": 3, "probability": 2e-6}
    assert explanation_json(stuck) == json.dumps(out)
    # A spike that also happens to repeat the last value keeps its type: its size explains it.
    spike = Scored(
        0, ("", "", ""), 90.0, 1e-9, 1.0, 40.1, 30.0, 50.0, -5.0, 1e-9, 0.4,
        repeat_probability=5e-4, repeated_buckets=1,
    )  # fmt: skip
    assert explanation(spike)["anomaly_type"] == "spike"
    assert "repeated_value" not in explanation(Scored(0, ("", "", ""), 2.0, 1e-5, 1.0, 2.0))
