"""Influences as flat columns: gathering records' rows, and influencer results from them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from trailspike.features.record_evidence import ShareColumns
from trailspike.jobs.influence import Influence
from trailspike.jobs.records import influencer_probability
from trailspike.jobs.shares import InfluenceColumns, Shares, gather, influencer_columns
from trailspike.models.normalizer import ScoreNormalizer

FIELDS = ("user.name", "source.ip")


def block(rows: list[tuple[int, int, str, float]]) -> ShareColumns:
    return ShareColumns(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        pa.array([r[2] for r in rows], pa.string()),
        np.array([r[3] for r in rows], dtype=np.float64),
    )


def test_gather_lines_up_shares_lists_and_nothing_in_record_order() -> None:
    one = block([(0, 0, "bob", 1.0), (0, 1, "1.1.1.1", 0.5), (1, 1, "2.2.2.2", 1.0)])
    two = block([(0, 0, "eve", 0.75)])
    listed = [Influence("source.geo.city_name", "Oslo", 0.5)]
    found = [Shares(one, 1, 3), listed, None, Shares(two, 0, 1), Shares(one, 0, 1), []]
    cols = gather(found, FIELDS)
    assert cols.lists() == [
        [Influence("source.ip", "1.1.1.1", 0.5), Influence("source.ip", "2.2.2.2", 1.0)],
        listed,
        [],
        [Influence("user.name", "eve", 0.75)],
        [Influence("user.name", "bob", 1.0)],
        [],
    ]
    assert cols.of(4) == [Influence("user.name", "bob", 1.0)]
    # One flush's shares only: the path without a loop per record gives the same.
    same = [Shares(one, 0, 2), Shares(one, 2, 2), Shares(one, 2, 3)]
    assert gather(same, FIELDS).lists() == [
        [Influence("user.name", "bob", 1.0), Influence("source.ip", "1.1.1.1", 0.5)],
        [],
        [Influence("source.ip", "2.2.2.2", 1.0)],
    ]
    assert gather([], FIELDS).lists() == []
    assert gather([None, []], FIELDS).lengths.tolist() == [0, 0]


def one_by_one(
    buckets: list[datetime],
    normalizers: list[ScoreNormalizer],
    bucket_of: list[int],
    probabilities: list[float],
    confidences: list[float],
    found: list[list[Influence]],
) -> list[tuple[datetime, str, str, float, float, float]]:
    """The per-record loop influencer_columns replaces: lowest probability per bucket and
    value, the first record's on a tie, rows in the order values were first met."""
    best: dict[tuple[int, str, str], tuple[float, float]] = {}
    for n, influences in enumerate(found):
        for inf in influences:
            p = influencer_probability(probabilities[n], inf.influence)
            key = (bucket_of[n], inf.field, inf.value)
            if key not in best or p < best[key][0]:
                best[key] = (p, confidences[n])
    out = []
    for (b, name, value), (p, conf) in best.items():
        score = float(normalizers[b].normalize_many([p], [conf])[0])
        out.append((buckets[b], name, value, score, p, conf))
    return out


def test_influencer_results_equal_the_per_record_loop() -> None:
    rng = random.Random(5)
    norms = [ScoreNormalizer(), ScoreNormalizer()]
    for p in (1e-3, 1e-5, 1e-9, 0.2, 0.01):
        norms[1].observe_many([p])
    buckets = [datetime(2026, 1, 1), datetime(2026, 1, 1) + timedelta(hours=1)]
    found, bucket_of, probabilities, confidences = [], [], [], []
    for n in range(300):
        bucket_of.append(0 if n < 140 else 1)
        # Few distinct probabilities and shares, so ties between records are common.
        probabilities.append(rng.choice([1e-4, 3e-3, 1e-7, 0.02]))
        confidences.append(rng.choice([0.5, 1.0]))
        found.append(
            [
                Influence(rng.choice(FIELDS), f"v{rng.randrange(6)}", rng.choice([0.4, 0.5, 1.0]))
                for _ in range(rng.randrange(4))
            ]
        )
    cols = influencer_columns(
        "j",
        3600,
        buckets,
        norms,
        bucket_of,
        probabilities,
        confidences,
        InfluenceColumns.from_lists(found),
    )
    assert cols is not None
    got = list(
        zip(
            cols["timestamp"],
            cols["influencer_field_name"],
            cols["influencer_field_value"].to_pylist(),
            cols["influencer_score"].tolist(),
            cols["probability"].tolist(),
            cols["score_confidence"].tolist(),
            strict=True,
        )
    )
    assert got == one_by_one(buckets, norms, bucket_of, probabilities, confidences, found)
    assert cols["initial_influencer_score"].tolist() == cols["influencer_score"].tolist()
    empty = InfluenceColumns.from_lists([[], []])
    assert influencer_columns("j", 3600, buckets, norms, [0, 1], [0.1, 0.1], [1, 1], empty) is None
