"""Influence experiments: recompute without a value's events and keep what explains the anomaly."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from trailspike.features.functions import FUNCTIONS
from trailspike.jobs.influence import (
    find_influencers,
    influence_of,
    rare_influencers,
    value_without,
)


def test_distinct_counts_remove_only_values_contributed_by_the_influencer() -> None:
    xs = ["shared", "shared", "own1", "own2"]
    mask = [True, False, True, True]  # the influencer's rows: one shared message, two own
    assert value_without(FUNCTIONS["distinct_count"], xs, mask) == 1.0


def test_metric_recomputations() -> None:
    xs = ["1", "5", "10", "x"]
    mask = [False, False, True, False]
    assert value_without(FUNCTIONS["sum"], xs, mask) == 6.0
    assert value_without(FUNCTIONS["mean"], xs, mask) == 3.0
    assert value_without(FUNCTIONS["max"], xs, mask) == 5.0
    assert value_without(FUNCTIONS["min"], xs, [True, False, False, False]) == 5.0
    assert value_without(FUNCTIONS["mean"], ["7"], [True]) is None


def test_attacker_explains_a_distinct_count_burst_and_bystanders_do_not() -> None:
    xs = [f"m{k}" for k in range(30)] + ["common", "common", "common"]
    arns = ["attacker"] * 30 + ["admin", "ci", "admin"]

    def rescore(value: float) -> float:  # a model expecting about 3 distinct messages
        return 1.0 if value <= 3 else math.exp(-(value - 3))

    found = find_influencers(
        FUNCTIONS["high_distinct_count"], rescore(31), xs, [("arn", arns)], rescore
    )
    assert [(i.value, i.influence) for i in found] == [("attacker", 1.0)]


def test_each_remaining_feature_value_is_scored_once() -> None:
    # Bystanders who only repeat the attacker's messages leave the distinct count unchanged
    # (31); without the attacker three remain. Two remainders, so two model calls, not eight.
    xs = [f"m{k}" for k in range(30)] + ["m0", "m1", "common", "common"]
    arns = ["attacker"] * 30 + ["admin", "ci", "attacker", "ops"]
    ips = ["1.1.1.1"] * 30 + ["2.2.2.2", "3.3.3.3", "1.1.1.1", "4.4.4.4"]
    asked: list[float] = []

    def rescore(value: float) -> float:
        asked.append(value)
        return 1.0 if value <= 3 else math.exp(-(value - 3))

    found = find_influencers(
        FUNCTIONS["high_distinct_count"], math.exp(-28), xs, [("arn", arns), ("ip", ips)],
        rescore,
    )  # fmt: skip
    assert sorted(asked) == [3.0, 31.0]
    assert [(i.field, i.value) for i in found] == [("arn", "attacker"), ("ip", "1.1.1.1")]


def test_rare_influence_is_the_share_of_the_category_events() -> None:
    found = find_influencers(
        FUNCTIONS["rare"], 1e-5, [None] * 4, [("ip", ["a", "a", "a", "b"])], lambda v: 1.0
    )
    assert [(i.value, i.influence) for i in found] == [("a", 0.75)]


@given(st.floats(1e-300, 0.99), st.floats(1e-300, 1.0), st.floats(1e-300, 1.0))
def test_influence_is_bounded_and_monotone(p: float, q1: float, q2: float) -> None:
    lo, hi = sorted((q1, q2))
    assert 0.0 <= influence_of(p, lo) <= influence_of(p, hi) <= 1.0


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["alice", "bob", None]), st.sampled_from(["ip1", "ip2", "ip3"])),
        min_size=1,
        max_size=30,
    )
)
def test_rare_influencers_from_counts_equal_those_from_rows(
    rows: list[tuple[str | None, str]],
) -> None:
    fields = ("user.name", "source.ip")
    columns = [(name, [row[j] for row in rows]) for j, name in enumerate(fields)]
    from_rows = find_influencers(
        FUNCTIONS["rare"], 1e-6, [None] * len(rows), columns, lambda v: 1.0
    )
    counted = Counter((j, v) for row in rows for j, v in enumerate(row) if v is not None)
    from_counts = rare_influencers(fields, [(j, v, n) for (j, v), n in counted.items()])
    assert from_counts == from_rows
