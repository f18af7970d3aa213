"""The function registry covers every function the issue lists, with Elastic's semantics."""

from __future__ import annotations

import pytest

from trailspike.features.functions import FUNCTIONS, get_function

ISSUE_FUNCTIONS = [
    "count",
    "high_count",
    "low_count",
    "non_zero_count",
    "distinct_count",
    "high_distinct_count",
    "low_distinct_count",
    "rare",
    "freq_rare",
    "mean",
    "high_mean",
    "low_mean",
    "sum",
    "high_sum",
    "low_sum",
    "min",
    "max",
]


@pytest.mark.parametrize("name", ISSUE_FUNCTIONS)
def test_every_issue_function_is_registered(name: str) -> None:
    spec = get_function(name)
    assert spec.name == name
    if name.startswith("high_"):
        assert spec.side == "high"
    elif name.startswith("low_"):
        assert spec.side == "low"


def test_empty_buckets_follow_elastic() -> None:
    zero_filled = {name for name, spec in FUNCTIONS.items() if spec.zero_fill}
    assert zero_filled == {"count", "high_count", "low_count"}


def test_unknown_function_lists_known_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown function 'avg'.*high_count"):
        get_function("avg")
