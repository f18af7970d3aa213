"""Rare feature rows grouped in array steps: the same mapping and groups as the dict route."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from trailspike.features.contract import FEATURE_SCHEMA
from trailspike.jobs.bucket import BucketProcessor
from trailspike.jobs.rows import RareRows
from trailspike.jobs.rows import group_rows as _rare_groups

T0 = datetime(2026, 1, 5)


def features(seed: int, with_over: bool) -> pa.Table:
    """Feature rows of two detectors (0 rare, 1 not) over three buckets, sorted as
    compute_features sorts them (detector, bucket, partition, by, over)."""
    rng = np.random.default_rng(seed)
    rows = set()
    for _ in range(400):
        rows.add(
            (
                int(rng.integers(0, 2)),
                T0 + timedelta(hours=int(rng.integers(0, 3))),
                f"u{rng.integers(0, 6)}",
                f"A{rng.integers(0, 9)}",
                f"o{rng.integers(0, 3)}" if with_over else "",
            )
        )
    ordered = sorted(rows)
    counts = rng.integers(1, 50, len(ordered)).astype(float)
    return pa.table(
        {
            "job_id": ["j"] * len(ordered),
            "detector_index": [r[0] for r in ordered],
            "bucket_start": [r[1] for r in ordered],
            "partition": [r[2] for r in ordered],
            "by": [r[3] for r in ordered],
            "over": [r[4] for r in ordered],
            "value": counts.tolist(),
        },
        schema=FEATURE_SCHEMA,
    )


@pytest.mark.parametrize("with_over", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rare_rows_are_the_plain_rows_with_their_groups(seed: int, with_over: bool) -> None:
    table = features(seed, with_over)
    plain = BucketProcessor.group(table)
    grouped = BucketProcessor.group(table, frozenset({0}))
    assert plain.keys() == grouped.keys() and len(plain) == 3
    for bucket, by_detector in plain.items():
        rare = grouped[bucket][0]
        assert isinstance(rare, RareRows)
        assert len(rare) == len(by_detector[0])
        assert list(rare.items()) == list(by_detector[0].items())  # same keys, values, order
        expected = _rare_groups(by_detector[0])
        assert rare.groups == expected
        assert [list(g) for g in rare.groups.values()] == [list(g) for g in expected.values()]
        assert list(rare.groups) == list(expected)
        assert grouped[bucket][1] == by_detector[1] and not isinstance(grouped[bucket][1], RareRows)


def test_unsorted_runs_of_one_bucket_are_merged() -> None:
    table = features(4, False)
    halves = [table.slice(0, table.num_rows // 2), table.slice(table.num_rows // 2)]
    shuffled = pa.concat_tables([halves[1], halves[0], halves[1]])  # a run met twice
    grouped = BucketProcessor.group(shuffled, frozenset({0}))
    plain = BucketProcessor.group(table)
    for bucket, by_detector in plain.items():
        assert dict(grouped[bucket][0]) == dict(by_detector[0])
        assert _rare_groups(grouped[bucket][0]) == _rare_groups(by_detector[0])


@pytest.mark.parametrize("with_over", [False, True])
def test_flat_rows_are_the_groups_as_arrays(with_over: bool) -> None:
    """Where every model's rows are one run, FlatRows holds the groups' keys, categories and
    counts in the groups' order; otherwise it is not offered."""
    table = features(5, with_over)
    grouped = BucketProcessor.group(table, frozenset({0}))
    for by_detector in grouped.values():
        rare = by_detector[0]
        assert isinstance(rare, RareRows)
        flat = rare.flat
        if flat is None:
            assert with_over  # a partition's over values interleave: its group spans runs
            continue
        assert flat.keys == list(rare.groups)
        names = flat.categories.names
        rebuilt = {
            key: {
                names[int(c)]: int(n)
                for c, n in zip(flat.codes[a:b], flat.counts[a:b], strict=True)
            }
            for key, (a, b) in zip(flat.keys, itertools.pairwise(flat.bounds), strict=True)
        }
        assert list(rebuilt.items()) == list(rare.groups.items())
        assert [list(g) for g in rebuilt.values()] == [list(g) for g in rare.groups.values()]
